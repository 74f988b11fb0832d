package cluster

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// caKey holds the cluster CA (certificate and key, PEM) in tokenBucket,
// next to the worker token: whoever reaches the cluster's NATS may read
// both, nothing that only reaches a worker's port can.
const caKey = "worker-ca"

// Lifetimes: the CA outlives any deployment; a worker's certificate is
// issued as the worker starts and again when a third of it is left.
const (
	caLifetime   = 20 * 365 * 24 * time.Hour
	leafLifetime = 30 * 24 * time.Hour
)

// CA is the cluster's certificate authority: workers serve their
// listener with a certificate it signed, api nodes trust only it.
type CA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

// ClusterCA returns the cluster's CA, made by the first node that asks
// (a KV Create: of nodes starting together, one wins and the others read
// its CA) and kept in the cluster's JetStream.
func ClusterCA(ctx context.Context, js jetstream.JetStream) (*CA, error) {
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: tokenBucket, History: 1})
	if err != nil {
		return nil, fmt.Errorf("cluster secrets bucket: %w", err)
	}
	pemCA, err := newCA()
	if err != nil {
		return nil, err
	}
	if _, err := kv.Create(ctx, caKey, pemCA); err != nil && !errors.Is(err, jetstream.ErrKeyExists) {
		return nil, fmt.Errorf("store the cluster CA: %w", err)
	}
	e, err := kv.Get(ctx, caKey)
	if err != nil {
		return nil, fmt.Errorf("read the cluster CA: %w", err)
	}
	return parseCA(e.Value())
}

// newCA makes a CA: its certificate and ECDSA P-256 key, PEM.
func newCA() ([]byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{Organization: []string{"hearth"}, CommonName: "hearth cluster CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(caLifetime),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("make the cluster CA: %w", err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, err
	}
	out := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	return append(out, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})...), nil
}

func parseCA(b []byte) (*CA, error) {
	ca := &CA{pool: x509.NewCertPool()}
	for {
		var blk *pem.Block
		if blk, b = pem.Decode(b); blk == nil {
			break
		}
		var err error
		switch blk.Type {
		case "CERTIFICATE":
			ca.cert, err = x509.ParseCertificate(blk.Bytes)
		case "EC PRIVATE KEY":
			ca.key, err = x509.ParseECPrivateKey(blk.Bytes)
		}
		if err != nil {
			return nil, fmt.Errorf("the cluster CA: %w", err)
		}
	}
	if ca.cert == nil || ca.key == nil {
		return nil, errors.New("the cluster CA: certificate or key missing")
	}
	ca.pool.AddCert(ca.cert)
	return ca, nil
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	return n
}

// ClientConfig is what api nodes dial workers with: TLS 1.3, trusting
// only the cluster CA. The server name is the host of the worker's
// announced address (the URL's), which its certificate names.
func (ca *CA) ClientConfig() *tls.Config {
	return &tls.Config{RootCAs: ca.pool, MinVersion: tls.VersionTLS13}
}

// ServerConfig is what a worker serves its listener with: TLS 1.3 and a
// certificate the CA signs for the host of addr (the address the worker
// announces), issued now and again when a third of its life is left.
func (ca *CA) ServerConfig(addr string) (*tls.Config, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("worker certificate: %w", err)
	}
	l := &leaf{ca: ca, host: host}
	if _, err := l.get(time.Now()); err != nil {
		return nil, err
	}
	return &tls.Config{
		MinVersion:     tls.VersionTLS13,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return l.get(time.Now()) },
	}, nil
}

// leaf is a worker's certificate, re-issued as it nears its end.
type leaf struct {
	ca   *CA
	host string

	mu   sync.Mutex
	cert *tls.Certificate // guarded by mu
}

func (l *leaf) get(now time.Time) (*tls.Certificate, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cert != nil && now.Before(l.cert.Leaf.NotAfter.Add(-leafLifetime/3)) {
		return l.cert, nil
	}
	c, err := l.ca.issue(l.host, now)
	if err != nil {
		return nil, err
	}
	l.cert = c
	return c, nil
}

// issue signs a server certificate for host (an IP or DNS name).
func (ca *CA) issue(host string, now time.Time) (*tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{Organization: []string{"hearth"}, CommonName: host},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(leafLifetime),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if ip := net.ParseIP(host); ip != nil {
		tmpl.IPAddresses = []net.IP{ip}
	} else {
		tmpl.DNSNames = []string{host}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		return nil, fmt.Errorf("issue the worker certificate: %w", err)
	}
	parsed, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: parsed}, nil
}
