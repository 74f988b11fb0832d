package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"hearth/internal/server"
)

// clientCredentials finds the credentials the CLI signs with:
// HEARTH_ACCESS_KEY_ID and HEARTH_SECRET_ACCESS_KEY, then those AWS tools
// read from the environment (unless awsEnv is false: hearth roles set
// --from-env takes those for the role), else the root credentials in the
// data directory (HEARTH_DATA_DIR or the default) when this user can read
// them. The region is AWS_REGION, AWS_DEFAULT_REGION, the file's, or
// us-east-1.
func clientCredentials(lookup func(string) (string, bool), awsEnv bool) (aws.Credentials, string, error) {
	region := "us-east-1"
	for _, k := range []string{"AWS_REGION", "AWS_DEFAULT_REGION"} {
		if v, ok := lookup(k); ok && v != "" {
			region = v
			break
		}
	}
	if id, _ := lookup("HEARTH_ACCESS_KEY_ID"); id != "" {
		secret, _ := lookup("HEARTH_SECRET_ACCESS_KEY")
		return aws.Credentials{AccessKeyID: id, SecretAccessKey: secret}, region, nil
	}
	id, _ := lookup("AWS_ACCESS_KEY_ID")
	secret, _ := lookup("AWS_SECRET_ACCESS_KEY")
	if awsEnv && id != "" && secret != "" {
		token, _ := lookup("AWS_SESSION_TOKEN")
		return aws.Credentials{AccessKeyID: id, SecretAccessKey: secret, SessionToken: token}, region, nil
	}
	dir := defaultDataDir()
	if v, ok := lookup("HEARTH_DATA_DIR"); ok && v != "" {
		dir = v
	}
	path := server.CredentialsFile(dir)
	c, err := server.ReadCredentials(path)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) {
		return aws.Credentials{}, "", fmt.Errorf("no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (eval \"$(hearth credentials)\" as the server's user), or let this user read %s", path)
	}
	if err != nil {
		return aws.Credentials{}, "", err
	}
	if _, ok := lookup("AWS_REGION"); !ok && c.Region != "" {
		if _, ok := lookup("AWS_DEFAULT_REGION"); !ok {
			region = c.Region
		}
	}
	return aws.Credentials{AccessKeyID: c.AccessKeyID, SecretAccessKey: c.SecretAccessKey}, region, nil
}

// do sends a request to Hearth signed with SigV4 (service lambda).
func do(ctx context.Context, method, u string, body []byte) (*http.Response, error) {
	return doSigned(ctx, method, u, body, true)
}

func doSigned(ctx context.Context, method, u string, body []byte, awsEnv bool) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	if body == nil {
		req.Body, req.ContentLength = http.NoBody, 0
	} else {
		req.Header.Set("Content-Type", "application/json")
	}
	cred, region, err := clientCredentials(os.LookupEnv, awsEnv)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(ctx, cred, req, hex.EncodeToString(sum[:]), "lambda", region, time.Now()); err != nil {
		return nil, err
	}
	return http.DefaultClient.Do(req)
}

// readAnswer reads an answer's body, and turns a failure into an error.
func readAnswer(resp *http.Response) ([]byte, error) {
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode >= 300 {
		return nil, fmt.Errorf("%s: %s", resp.Status, bytes.TrimSpace(b))
	}
	return b, nil
}
