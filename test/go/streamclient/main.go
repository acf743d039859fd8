// streamclient drives a CRI streaming server with Kubernetes' own client code (client-go's remotecommand and
// portforward over SPDY, as crictl and kubectl use them), so that berth's server is checked against the real
// clients. It is built inside the cri-tools 1.26.1 module, against its vendored client-go.
//
//	streamclient exec [-tty] [-stdin] [-sizes 80x24,100x40] [-count] <url>
//	    stdin, stdout and stderr are the program's own; exits with the remote command's exit code.
//	    -count: writes the byte count of stdout and the time taken to stderr instead of stdout itself.
//	streamclient portforward -port <remote port> [-conns N] [-bytes N] <url>
//	    forwards a local port to the remote port, opens N connections at once through it, sends N bytes on each and
//	    checks the same bytes come back (the remote port is an echo server); prints "ok ..." or fails.
package main

import (
	"bytes"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	restclient "k8s.io/client-go/rest"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/tools/remotecommand"
	"k8s.io/client-go/transport/spdy"
	utilexec "k8s.io/client-go/util/exec"
)

func main() {
	if len(os.Args) < 2 {
		fail(errors.New("usage: streamclient exec|portforward [flags] <url>"))
	}
	switch os.Args[1] {
	case "exec":
		os.Exit(execCmd(os.Args[2:]))
	case "portforward":
		if err := portForwardCmd(os.Args[2:]); err != nil {
			fail(err)
		}
	default:
		fail(fmt.Errorf("unknown command %q", os.Args[1]))
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "streamclient:", err)
	os.Exit(100)
}

// sizeQueue hands out the terminal sizes given on the command line, a little apart, then nil (no more).
type sizeQueue struct{ sizes []remotecommand.TerminalSize }

func (q *sizeQueue) Next() *remotecommand.TerminalSize {
	if len(q.sizes) == 0 {
		return nil
	}
	s := q.sizes[0]
	q.sizes = q.sizes[1:]
	time.Sleep(50 * time.Millisecond)
	return &s
}

type countingWriter struct{ n int64 }

func (w *countingWriter) Write(p []byte) (int, error) {
	w.n += int64(len(p))
	return len(p), nil
}

func execCmd(args []string) int {
	fs := flag.NewFlagSet("exec", flag.ExitOnError)
	tty := fs.Bool("tty", false, "allocate a terminal (no stderr stream)")
	stdin := fs.Bool("stdin", false, "send the program's stdin")
	sizes := fs.String("sizes", "", "terminal sizes to send, WxH,WxH")
	count := fs.Bool("count", false, "count stdout bytes instead of printing them")
	_ = fs.Parse(args)
	u, err := url.Parse(fs.Arg(0))
	if err != nil {
		fail(err)
	}
	// As crictl builds it.
	executor, err := remotecommand.NewSPDYExecutor(&restclient.Config{TLSClientConfig: restclient.TLSClientConfig{Insecure: true}}, "POST", u)
	if err != nil {
		fail(err)
	}
	counter := &countingWriter{}
	opts := remotecommand.StreamOptions{Stdout: os.Stdout, Stderr: os.Stderr, Tty: *tty}
	if *count {
		opts.Stdout = counter
	}
	if *tty {
		opts.Stderr = nil
	}
	if *stdin {
		opts.Stdin = os.Stdin
	}
	if *sizes != "" {
		q := &sizeQueue{}
		for _, s := range strings.Split(*sizes, ",") {
			var w, h uint16
			if _, err := fmt.Sscanf(s, "%dx%d", &w, &h); err != nil {
				fail(fmt.Errorf("size %q: %v", s, err))
			}
			q.sizes = append(q.sizes, remotecommand.TerminalSize{Width: w, Height: h})
		}
		opts.TerminalSizeQueue = q
	}
	start := time.Now()
	err = executor.Stream(opts)
	if *count {
		fmt.Fprintf(os.Stderr, "bytes=%d ms=%d\n", counter.n, time.Since(start).Milliseconds())
	}
	if err == nil {
		return 0
	}
	var exitErr utilexec.CodeExitError
	if errors.As(err, &exitErr) {
		fmt.Fprintf(os.Stderr, "streamclient: %v\n", err)
		return exitErr.Code
	}
	fail(err)
	return 100
}

func portForwardCmd(args []string) error {
	fs := flag.NewFlagSet("portforward", flag.ExitOnError)
	port := fs.Int("port", 0, "remote port")
	conns := fs.Int("conns", 1, "connections to open at once")
	size := fs.Int("bytes", 1024, "bytes to send on each connection")
	_ = fs.Parse(args)
	u, err := url.Parse(fs.Arg(0))
	if err != nil {
		return err
	}
	// As crictl builds it.
	transport, upgrader, err := spdy.RoundTripperFor(&restclient.Config{})
	if err != nil {
		return err
	}
	dialer := spdy.NewDialer(upgrader, &http.Client{Transport: transport}, "POST", u)
	stop := make(chan struct{})
	ready := make(chan struct{})
	pf, err := portforward.NewOnAddresses(dialer, []string{"127.0.0.1"}, []string{"0:" + strconv.Itoa(*port)}, stop, ready, io.Discard, os.Stderr)
	if err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- pf.ForwardPorts() }()
	select {
	case <-ready:
	case err := <-done:
		return fmt.Errorf("port forwarding ended before it was ready: %v", err)
	case <-time.After(10 * time.Second):
		return errors.New("port forwarding not ready after 10 s")
	}
	ports, err := pf.GetPorts()
	if err != nil {
		return err
	}
	local := fmt.Sprintf("127.0.0.1:%d", ports[0].Local)

	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, *conns)
	for i := 0; i < *conns; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			if err := echoOnce(local, *size); err != nil {
				errs <- fmt.Errorf("connection %d: %v", i, err)
			}
		}(i)
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(errs)
	for err := range errs {
		return err
	}
	close(stop)
	<-done
	fmt.Printf("ok conns=%d bytes=%d ms=%d\n", *conns, *size, elapsed.Milliseconds())
	return nil
}

func echoOnce(addr string, size int) error {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	payload := make([]byte, size)
	if _, err := rand.Read(payload); err != nil {
		return err
	}
	got := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(c)
		got <- b
	}()
	if _, err := c.Write(payload); err != nil {
		return err
	}
	_ = c.(*net.TCPConn).CloseWrite()
	select {
	case b := <-got:
		if !bytes.Equal(b, payload) {
			return fmt.Errorf("sent %d bytes, got %d back (equal prefix: %v)", len(payload), len(b), bytes.HasPrefix(payload, b))
		}
		return nil
	case <-time.After(30 * time.Second):
		return errors.New("no echo within 30 s")
	}
}
