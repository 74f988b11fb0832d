package auth

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// FileName is the root credentials' file in the data directory.
const FileName = "credentials"

// FileCredentials are the contents of the credentials file: the default
// account's root key, in the AWS shared-credentials format (so that
// AWS_SHARED_CREDENTIALS_FILE can name it too).
type FileCredentials struct {
	AccessKeyID     string
	SecretAccessKey string
	Region          string
	Account         string
}

// WriteFile writes c to dir/credentials, readable by the server's user
// only, replacing it atomically.
func WriteFile(dir string, c FileCredentials) (string, error) {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# Hearth root credentials of account %s. Keep this file private.\n", c.Account)
	fmt.Fprintf(&b, "[default]\naws_access_key_id = %s\naws_secret_access_key = %s\nregion = %s\n", c.AccessKeyID, c.SecretAccessKey, c.Region)
	path := filepath.Join(dir, FileName)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b.Bytes(), 0o600); err != nil {
		return "", fmt.Errorf("write credentials: %w", err)
	}
	// WriteFile keeps the mode of an existing file.
	if err := os.Chmod(tmp, 0o600); err != nil {
		return "", fmt.Errorf("write credentials: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return "", fmt.Errorf("write credentials: %w", err)
	}
	return path, nil
}

// ReadFile reads the credentials file at path.
func ReadFile(path string) (FileCredentials, error) {
	f, err := os.Open(path)
	if err != nil {
		return FileCredentials{}, err
	}
	defer f.Close()
	var c FileCredentials
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if rest, ok := strings.CutPrefix(line, "# Hearth root credentials of account "); ok {
			c.Account, _, _ = strings.Cut(rest, ".")
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || strings.HasPrefix(line, "#") {
			continue
		}
		switch strings.TrimSpace(k) {
		case "aws_access_key_id":
			c.AccessKeyID = strings.TrimSpace(v)
		case "aws_secret_access_key":
			c.SecretAccessKey = strings.TrimSpace(v)
		case "region":
			c.Region = strings.TrimSpace(v)
		}
	}
	if err := sc.Err(); err != nil {
		return FileCredentials{}, err
	}
	if c.AccessKeyID == "" || c.SecretAccessKey == "" {
		return FileCredentials{}, fmt.Errorf("%s holds no access key", path)
	}
	return c, nil
}
