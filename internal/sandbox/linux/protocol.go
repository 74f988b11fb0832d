//go:build linux

package linux

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"

	"golang.org/x/sys/unix"

	"hearth/internal/sandbox"
)

// The driver and an environment's init talk over a SOCK_SEQPACKET socket
// pair: one JSON message per packet, file descriptors as SCM_RIGHTS.
//
//	driver → init   setup    mount point (init builds the root)
//	driver → init   net      addresses, after the veth exists
//	init → driver   ready    + the Runtime API listener
//	driver → init   stem     pre-start the runtime (see stem.go):
//	                         identity, command, start environment, +
//	                         runtime and host path trees
//	init → driver   stemmed  the stem runs and waits for its message
//	driver → init   start    identity, + output, code, runtime and host
//	                         path trees (a stem's: code and /tmp only)
//	init → driver   started  the bootstrap runs (held: the extensions run)
//	driver → init   release  start the held bootstrap
//	init → driver   running  the held bootstrap runs
//	init → driver   extexit  an extension ended (or could not start)
//	init → driver   exit     the bootstrap's status; init exits next
//	init → driver   error    setup failed, or the bootstrap could not be
//	                         executed (then with exec); init exits next
type message struct {
	Kind  string    `json:"kind"`
	Setup *setupMsg `json:"setup,omitempty"`
	Net   *netMsg   `json:"net,omitempty"`
	Start *startMsg `json:"start,omitempty"`
	Stem  *stemMsg  `json:"stem,omitempty"`
	Exit  *exitMsg  `json:"exit,omitempty"`
	Pid   int       `json:"pid,omitempty"`
	Error string    `json:"error,omitempty"`
	Exec  *execMsg  `json:"exec,omitempty"`
	// Ext names the extension of an extexit message.
	Ext string `json:"ext,omitempty"`
}

const (
	msgSetup   = "setup"
	msgNet     = "net"
	msgReady   = "ready"
	msgStart   = "start"
	msgStem    = "stem"
	msgStemmed = "stemmed"
	msgStarted = "started"
	msgRelease = "release"
	msgRunning = "running"
	msgExit    = "exit"
	msgExtExit = "extexit"
	msgError   = "error"
)

type setupMsg struct {
	MountPoint string `json:"mount_point"`
}

type netMsg struct {
	// Addr is the environment's address with its prefix ("10.213.0.2/30");
	// empty when the environment has no network beyond loopback.
	Addr    string `json:"addr,omitempty"`
	Gateway string `json:"gateway,omitempty"`
	// Tmp says that the message carries a descriptor: a detached mount of
	// the disk-backed /tmp of the default size, made ahead of time.
	Tmp bool `json:"tmp,omitempty"`
}

type startMsg struct {
	Argv     []string `json:"argv"`
	Env      []string `json:"env"`
	Hostname string   `json:"hostname"`
	UID      int      `json:"uid"` // the identity the bootstrap runs as
	GID      int      `json:"gid"`
	// TmpMB sizes the tmpfs mounted at /tmp when no tree targets /tmp
	// (the host cannot make a disk-backed one).
	TmpMB int         `json:"tmp_mb"`
	Trees []treeMount `json:"trees"` // one descriptor each, after the output
	// Extensions are started before the bootstrap, as it is, with ExtEnv.
	Extensions []string `json:"extensions,omitempty"`
	ExtEnv     []string `json:"ext_env,omitempty"`
	// ExtOutput says that the last descriptor is the extensions' output.
	ExtOutput bool `json:"ext_output,omitempty"`
	// Hold starts the extensions only; the bootstrap waits for a
	// release message.
	Hold bool `json:"hold,omitempty"`
}

// stemMsg asks a prepared init to start a pre-started runtime: Argv with
// Env (the start environment, which names the start descriptor) as UID and
// GID, once Trees (the runtime and host paths, one descriptor each) are
// attached. Everything the function adds comes with the start message.
type stemMsg struct {
	Argv  []string    `json:"argv"`
	Env   []string    `json:"env"`
	UID   int         `json:"uid"`
	GID   int         `json:"gid"`
	Trees []treeMount `json:"trees"`
}

// treeMount places a detached mount received as a descriptor.
type treeMount struct {
	Target string `json:"target"`
	File   bool   `json:"file,omitempty"`
}

// execMsg is why the kernel refused to execute the bootstrap.
type execMsg struct {
	Path  string `json:"path"`
	Errno int    `json:"errno"`
}

// errorMessage is the error message for err, marking an exec failure so
// that the driver can return it as a [sandbox.ExecError].
func errorMessage(err error) message {
	m := message{Kind: msgError, Error: err.Error()}
	var xe *sandbox.ExecError
	var errno syscall.Errno
	if errors.As(err, &xe) && errors.As(xe.Err, &errno) {
		m.Exec = &execMsg{Path: xe.Path, Errno: int(errno)}
	}
	return m
}

// err returns the error an error message carries.
func (m *message) err() error {
	if m.Exec != nil {
		return fmt.Errorf("sandbox init: %w", &sandbox.ExecError{Path: m.Exec.Path, Err: syscall.Errno(m.Exec.Errno)})
	}
	return fmt.Errorf("sandbox init: %s", m.Error)
}

type exitMsg struct {
	Code   int `json:"code"`
	Signal int `json:"signal,omitempty"`
}

const maxMessage = 256 << 10

var errPeerClosed = errors.New("control socket closed")

// sendConn sends m with fds over the driver's end of the socket.
func sendConn(c *net.UnixConn, m message, fds ...int) error {
	b, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("encode %s message: %w", m.Kind, err)
	}
	var oob []byte
	if len(fds) > 0 {
		oob = unix.UnixRights(fds...)
	}
	if _, _, err := c.WriteMsgUnix(b, oob, nil); err != nil {
		return fmt.Errorf("send %s message: %w", m.Kind, err)
	}
	return nil
}

// recvConn receives one message and its descriptors over the driver's end.
func recvConn(c *net.UnixConn) (message, []*os.File, error) {
	buf := make([]byte, maxMessage)
	oob := make([]byte, unix.CmsgSpace(4*4))
	n, oobn, flags, _, err := c.ReadMsgUnix(buf, oob)
	if err != nil {
		return message{}, nil, err
	}
	return decodeMessage(buf[:n], oob[:oobn], flags, errPeerClosed)
}

// decodeMessage decodes a received message and takes ownership of the
// descriptors that came with it, closing them on any error. An empty
// message means the peer closed its end: closed is returned.
func decodeMessage(b, oob []byte, flags int, closed error) (message, []*os.File, error) {
	files, ferr := parseRights(oob)
	if len(b) == 0 {
		closeAll(files)
		return message{}, nil, closed
	}
	if ferr != nil || flags&(unix.MSG_TRUNC|unix.MSG_CTRUNC) != 0 {
		closeAll(files)
		return message{}, nil, errors.Join(ferr, errors.New("control message truncated"))
	}
	var m message
	if err := json.Unmarshal(b, &m); err != nil {
		closeAll(files)
		return message{}, nil, fmt.Errorf("decode control message: %w", err)
	}
	return m, files, nil
}

// sendFD sends m with fds over the init's end of the socket.
func sendFD(fd int, m message, fds ...int) error {
	b, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("encode %s message: %w", m.Kind, err)
	}
	var oob []byte
	if len(fds) > 0 {
		oob = unix.UnixRights(fds...)
	}
	if err := unix.Sendmsg(fd, b, oob, nil, 0); err != nil {
		return fmt.Errorf("send %s message: %w", m.Kind, err)
	}
	return nil
}

// recvFD receives one message over the init's end; io.EOF when the driver
// has closed its end.
func recvFD(fd int) (message, []*os.File, error) {
	buf := make([]byte, maxMessage)
	oob := make([]byte, unix.CmsgSpace(64*4))
	for {
		n, oobn, flags, _, err := unix.Recvmsg(fd, buf, oob, unix.MSG_CMSG_CLOEXEC)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return message{}, nil, fmt.Errorf("receive control message: %w", err)
		}
		return decodeMessage(buf[:n], oob[:oobn], flags, io.EOF)
	}
}

func parseRights(oob []byte) ([]*os.File, error) {
	if len(oob) == 0 {
		return nil, nil
	}
	cmsgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, fmt.Errorf("parse control data: %w", err)
	}
	var files []*os.File
	for _, cm := range cmsgs {
		fds, err := unix.ParseUnixRights(&cm)
		if err != nil {
			continue
		}
		for _, fd := range fds {
			files = append(files, os.NewFile(uintptr(fd), "received"))
		}
	}
	return files, nil
}

func closeAll(files []*os.File) {
	for _, f := range files {
		f.Close()
	}
}
