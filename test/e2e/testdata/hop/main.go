// Command hop is the benchmarks' cross-process floor: "hop echo" answers
// every POST with its body; "hop proxy URL" forwards every POST to URL.
// Each prints its address on stdout once it listens.
package main

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
)

func main() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	var h http.HandlerFunc
	switch os.Args[1] {
	case "echo":
		h = func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			w.Write(b)
		}
	case "proxy":
		// Keep a connection per concurrent request, as Hearth keeps one
		// per environment.
		target, c := os.Args[2], &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
		h = func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			resp, err := c.Post(target, "application/json", bytes.NewReader(b))
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadGateway)
				return
			}
			defer resp.Body.Close()
			io.Copy(w, resp.Body)
		}
	}
	fmt.Println("http://" + ln.Addr().String())
	http.Serve(ln, h)
}
