// Command goext is an external Lambda extension written with net/http
// only, as vendors write them: it registers for INVOKE and SHUTDOWN,
// subscribes to the Telemetry API, counts what it receives, works a little
// after each invocation, and prints on SHUTDOWN the first platform.initStart
// and platform.start records it got, then a summary.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

func main() {
	if err := run(); err != nil {
		fmt.Println("goext failed:", err)
		os.Exit(1)
	}
}

func run() error {
	api := "http://" + os.Getenv("AWS_LAMBDA_RUNTIME_API")
	name := filepath.Base(os.Args[0])
	req, _ := http.NewRequest("POST", api+"/2020-01-01/extension/register", strings.NewReader(`{"events":["INVOKE","SHUTDOWN"]}`))
	req.Header.Set("Lambda-Extension-Name", name)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	var reg map[string]string
	json.NewDecoder(resp.Body).Decode(&reg)
	resp.Body.Close()
	id := resp.Header.Get("Lambda-Extension-Identifier")
	if resp.StatusCode != 200 || id == "" {
		return fmt.Errorf("register: %s", resp.Status)
	}

	// The telemetry listener, where Lambda's documentation puts it.
	ln, err := net.Listen("tcp", "sandbox.localdomain:0")
	if err != nil {
		ln, err = net.Listen("tcp", "127.0.0.1:0") // sandbox.localdomain is unknown on the host
	}
	if err != nil {
		return err
	}
	var mu sync.Mutex
	types := map[string]int{}
	var lines []string
	records := map[string]string{} // the first record of each platform type
	go http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var batch []struct {
			Type   string          `json:"type"`
			Record json.RawMessage `json:"record"`
		}
		json.NewDecoder(r.Body).Decode(&batch)
		mu.Lock()
		for _, ev := range batch {
			types[ev.Type]++
			if _, seen := records[ev.Type]; !seen && strings.HasPrefix(ev.Type, "platform.") {
				records[ev.Type] = string(ev.Record)
			}
			if ev.Type == "function" {
				var s string
				json.Unmarshal(ev.Record, &s)
				lines = append(lines, s)
			}
		}
		mu.Unlock()
	}))
	port := ln.Addr().(*net.TCPAddr).Port
	sub := fmt.Sprintf(`{"schemaVersion":"2022-12-13","types":["platform","function","extension"],"buffering":{"maxItems":1000,"maxBytes":262144,"timeoutMs":25},"destination":{"protocol":"HTTP","URI":"http://sandbox.localdomain:%d/telemetry"}}`, port)
	req, _ = http.NewRequest("PUT", api+"/2022-07-01/telemetry", bytes.NewReader([]byte(sub)))
	req.Header.Set("Lambda-Extension-Identifier", id)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("subscribe: %s", resp.Status)
	}
	fmt.Printf("goext registered function=%s handler=%s\n", reg["functionName"], reg["handler"])

	invokes := 0
	for {
		req, _ := http.NewRequest("GET", api+"/2020-01-01/extension/event/next", nil)
		req.Header.Set("Lambda-Extension-Identifier", id)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		var ev struct {
			EventType      string `json:"eventType"`
			RequestID      string `json:"requestId"`
			ShutdownReason string `json:"shutdownReason"`
		}
		json.NewDecoder(resp.Body).Decode(&ev)
		resp.Body.Close()
		switch ev.EventType {
		case "INVOKE":
			invokes++
			time.Sleep(50 * time.Millisecond) // post-processing
		case "SHUTDOWN":
			time.Sleep(100 * time.Millisecond) // the last batch
			mu.Lock()
			fmt.Printf("goext initStart %s\n", records["platform.initStart"])
			fmt.Printf("goext start %s\n", records["platform.start"])
			fmt.Printf("goext summary invokes=%d reports=%d starts=%d extension=%d reason=%s lines=%q\n",
				invokes, types["platform.report"], types["platform.start"], types["extension"], ev.ShutdownReason, strings.Join(lines, "|"))
			mu.Unlock()
			return nil
		}
	}
}
