//go:build linux && !hearth_noinitbin

package linux

//go:generate go run ./mkinit

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"

	"golang.org/x/sys/unix"
)

// selfExe is the init when no init program is embedded or it cannot be
// executed: the driver's own binary, which calls RunInitIfRequested.
const selfExe = "/proc/self/exe"

// initProgram is what the driver executes as every environment's init.
type initProgram struct {
	path string   // selfExe, or /proc/self/fd/<n> of file
	file *os.File // the sealed memfd holding the init program; nil for selfExe
}

// loadInit puts the embedded init program into a sealed memfd and checks
// that it runs. Executed from there, its pages are shared by every
// environment's init (as the driver's own binary's were), and no file on
// the host can be changed under it. It falls back to the driver's own
// binary, with the reason, when there is none for this architecture or the
// kernel refuses to execute it (vm.memfd_noexec).
func loadInit() (*initProgram, error) {
	self := &initProgram{path: selfExe}
	if len(initBinGz) == 0 {
		return self, nil
	}
	zr, err := gzip.NewReader(bytes.NewReader(initBinGz))
	if err != nil {
		return self, fmt.Errorf("embedded sandbox init: %w", err)
	}
	bin, err := io.ReadAll(zr)
	if err != nil {
		return self, fmt.Errorf("embedded sandbox init: %w", err)
	}
	fd, err := unix.MemfdCreate(initArg0, unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING|unix.MFD_EXEC)
	if err != nil {
		// Kernels before 6.3 know no MFD_EXEC; their memfds are
		// executable.
		fd, err = unix.MemfdCreate(initArg0, unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	}
	if err != nil {
		return self, fmt.Errorf("memfd for the sandbox init: %w", err)
	}
	// Above the descriptors a child gets (stdio and ExtraFiles), which
	// forkExec sets up before executing this one.
	hi, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 64)
	unix.Close(fd)
	if err != nil {
		return self, fmt.Errorf("memfd for the sandbox init: %w", err)
	}
	f := os.NewFile(uintptr(hi), initArg0)
	if _, err := f.Write(bin); err != nil {
		f.Close()
		return self, fmt.Errorf("write sandbox init: %w", err)
	}
	seals := unix.F_SEAL_SEAL | unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE
	if _, err := unix.FcntlInt(f.Fd(), unix.F_ADD_SEALS, seals); err != nil {
		f.Close()
		return self, fmt.Errorf("seal sandbox init: %w", err)
	}
	p := &initProgram{path: "/proc/self/fd/" + strconv.Itoa(hi), file: f}
	probe := &exec.Cmd{Path: p.path, Args: []string{initArg0, InitProbeArg}, Env: []string{}, Dir: "/"}
	if out, err := probe.CombinedOutput(); err != nil {
		f.Close()
		return self, fmt.Errorf("execute sandbox init from a memfd: %w: %s", err, out)
	}
	return p, nil
}

// close releases the memfd; environments running it keep it.
func (p *initProgram) close() error {
	if p.file == nil {
		return nil
	}
	return p.file.Close()
}
