// Command rawrt is the benchmarks' minimal custom runtime: it speaks the
// Runtime API on one kept-alive connection in hand-framed HTTP/1.1 and
// answers each event with the event itself, writing nothing to its
// output. Timed against a function built with aws-lambda-go, it shows
// what a warm invocation costs Hearth apart from a runtime client's own
// work.
package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
)

func main() {
	addr := os.Getenv("AWS_LAMBDA_RUNTIME_API")
	c, err := net.Dial("tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	br := bufio.NewReaderSize(c, 64<<10)
	next := []byte("GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: " + addr + "\r\n\r\n")
	var post []byte
	for {
		if _, err := c.Write(next); err != nil {
			fail(err)
		}
		id, body := readResponse(br)
		post = append(post[:0], "POST /2018-06-01/runtime/invocation/"...)
		post = append(post, id...)
		post = append(post, "/response HTTP/1.1\r\nHost: "...)
		post = append(post, addr...)
		post = append(post, "\r\nContent-Length: "...)
		post = strconv.AppendInt(post, int64(len(body)), 10)
		post = append(post, "\r\n\r\n"...)
		post = append(post, body...)
		if _, err := c.Write(post); err != nil {
			fail(err)
		}
		readResponse(br) // 202
	}
}

// readResponse reads one response and returns its request id header and
// its body.
func readResponse(br *bufio.Reader) (id string, body []byte) {
	n := 0
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			fail(err)
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			break
		}
		k, v, _ := bytes.Cut(line, []byte(":"))
		v = bytes.TrimSpace(v)
		switch {
		case bytes.EqualFold(k, []byte("Content-Length")):
			n, _ = strconv.Atoi(string(v))
		case bytes.EqualFold(k, []byte("Lambda-Runtime-Aws-Request-Id")):
			id = string(v)
		}
	}
	body = make([]byte, n)
	if _, err := io.ReadFull(br, body); err != nil {
		fail(err)
	}
	return id, body
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, err)
	os.Exit(1)
}
