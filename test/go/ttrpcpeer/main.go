// Command ttrpcpeer is the Go side of berth's ttrpc interop test, built on
// github.com/containerd/ttrpc as Debian installs it (the version the 1.6
// shim uses). Requests and responses are google.protobuf.StringValue.
//
//	ttrpcpeer serve <socket>  serves berth.test.Peer until stdin closes;
//	                          prints "ready" once listening
//	ttrpcpeer call <socket>   calls berth.test.Echo on a server and prints
//	                          one "key: value" line per observation
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/containerd/containerd/errdefs"
	"github.com/containerd/ttrpc"
	ptypes "github.com/gogo/protobuf/types"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: ttrpcpeer serve|call <socket>")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "serve":
		serve(os.Args[2])
	case "call":
		call(os.Args[2])
	default:
		fmt.Fprintf(os.Stderr, "ttrpcpeer: unknown mode %q\n", os.Args[1])
		os.Exit(2)
	}
}

func fail(what string, err error) {
	fmt.Fprintf(os.Stderr, "ttrpcpeer: %s: %v\n", what, err)
	os.Exit(1)
}

// observed is what Peer.Echo saw, returned to the caller as JSON.
type observed struct {
	Value       string              `json:"value"`
	Metadata    map[string][]string `json:"metadata"`
	HasDeadline bool                `json:"hasDeadline"`
	RemainingMs int64               `json:"remainingMs"`
}

func stringArg(unmarshal func(interface{}) error) (string, error) {
	var req ptypes.StringValue
	if err := unmarshal(&req); err != nil {
		return "", err
	}
	return req.Value, nil
}

func serve(path string) {
	server, err := ttrpc.NewServer()
	if err != nil {
		fail("new server", err)
	}
	server.Register("berth.test.Peer", map[string]ttrpc.Method{
		"Echo": func(ctx context.Context, unmarshal func(interface{}) error) (interface{}, error) {
			value, err := stringArg(unmarshal)
			if err != nil {
				return nil, err
			}
			o := observed{Value: value, Metadata: map[string][]string{}}
			if md, ok := ttrpc.GetMetadata(ctx); ok {
				for k, v := range md {
					o.Metadata[k] = v
				}
			}
			if dl, ok := ctx.Deadline(); ok {
				o.HasDeadline = true
				o.RemainingMs = time.Until(dl).Milliseconds()
			}
			out, err := json.Marshal(o)
			if err != nil {
				return nil, err
			}
			return &ptypes.StringValue{Value: string(out)}, nil
		},
		// NotFound fails as containerd's shim does for a missing container.
		"NotFound": func(ctx context.Context, unmarshal func(interface{}) error) (interface{}, error) {
			id, err := stringArg(unmarshal)
			if err != nil {
				return nil, err
			}
			return nil, errdefs.ToGRPC(fmt.Errorf("container %q: %w", id, errdefs.ErrNotFound))
		},
		// Wait returns when the caller's deadline passes (or after 30 s).
		"Wait": func(ctx context.Context, unmarshal func(interface{}) error) (interface{}, error) {
			if _, err := stringArg(unmarshal); err != nil {
				return nil, err
			}
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(30 * time.Second):
				return &ptypes.StringValue{Value: "waited"}, nil
			}
		},
		// Size answers a value of the requested length, however large.
		"Size": func(ctx context.Context, unmarshal func(interface{}) error) (interface{}, error) {
			arg, err := stringArg(unmarshal)
			if err != nil {
				return nil, err
			}
			n, err := strconv.Atoi(arg)
			if err != nil {
				return nil, status.Errorf(codes.InvalidArgument, "size %q: %v", arg, err)
			}
			return &ptypes.StringValue{Value: strings.Repeat("x", n)}, nil
		},
	})

	listener, err := net.Listen("unix", path)
	if err != nil {
		fail("listen", err)
	}
	go func() {
		if err := server.Serve(context.Background(), listener); err != nil && err != ttrpc.ErrServerClosed {
			fail("serve", err)
		}
	}()
	fmt.Println("ready")
	// The test ends the peer by closing stdin.
	_, _ = io.Copy(io.Discard, bufio.NewReader(os.Stdin))
	_ = server.Close()
}

func out(key, format string, args ...interface{}) {
	fmt.Printf("%s: %s\n", key, fmt.Sprintf(format, args...))
}

func statusLine(err error) string {
	if err == nil {
		return "ok"
	}
	st, ok := status.FromError(err)
	if !ok {
		return "not-a-status " + err.Error()
	}
	return st.Code().String() + " " + st.Message()
}

func call(path string) {
	conn, err := net.Dial("unix", path)
	if err != nil {
		fail("dial", err)
	}
	client := ttrpc.NewClient(conn)
	defer client.Close()

	const svc = "berth.test.Echo"
	invoke := func(ctx context.Context, method, value string) (string, error) {
		var resp ptypes.StringValue
		err := client.Call(ctx, svc, method, &ptypes.StringValue{Value: value}, &resp)
		return resp.Value, err
	}

	// Metadata and deadline reach the server.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	md := ttrpc.MD{}
	md.Set("containerd-namespace-ttrpc", "ns1")
	md.Set("multi", "a", "b")
	v, err := invoke(ttrpc.WithMetadata(ctx, md), "Echo", "hello")
	cancel()
	if err != nil {
		fail("Echo", err)
	}
	out("echo", "%s", v)

	// An errdefs error crosses as code and message, and errdefs reads it back.
	_, err = invoke(context.Background(), "NotFound", "x")
	out("not-found", "%s", statusLine(err))
	out("not-found.is-not-found", "%t", errdefs.IsNotFound(errdefs.FromGRPC(err)))

	err = client.Call(context.Background(), "no.such.Service", "Echo", &ptypes.StringValue{}, &ptypes.StringValue{})
	out("unknown-service", "%s", statusLine(err))
	_, err = invoke(context.Background(), "NoSuchMethod", "")
	out("unknown-method", "%s", statusLine(err))

	// The server answers an unclassified error UNKNOWN.
	_, err = invoke(context.Background(), "Unclassified", "")
	out("unclassified", "%s", statusLine(err))

	// The server sees the caller's deadline as timeout_nano.
	ctx, cancel = context.WithTimeout(context.Background(), 2*time.Second)
	v, err = invoke(ctx, "Deadline", "")
	cancel()
	if err != nil {
		fail("Deadline", err)
	}
	out("deadline", "%s", v)

	// A handler that never answers: the call ends at its deadline, whichever
	// side notices first.
	ctx, cancel = context.WithTimeout(context.Background(), 300*time.Millisecond)
	_, err = invoke(ctx, "Hang", "")
	cancel()
	st, _ := status.FromError(err)
	out("hang.deadline-exceeded", "%t", errors.Is(err, context.DeadlineExceeded) || st.Code() == codes.DeadlineExceeded)

	// Go ttrpc 1.1 sends an oversize request unchecked; the server must
	// answer on its stream and keep the connection in step.
	_, err = invoke(context.Background(), "Echo", strings.Repeat("y", 4<<20))
	out("oversize", "%s", statusLine(err))
	v, err = invoke(context.Background(), "Echo", "after")
	if err != nil {
		fail("Echo after oversize", err)
	}
	out("after-oversize", "%s", v)

	// Concurrent calls, answered out of order, each get their own answer.
	delays := []int{300, 200, 100, 0, 250, 50}
	results := make([]string, len(delays))
	var wg sync.WaitGroup
	for i, d := range delays {
		wg.Add(1)
		go func(i, d int) {
			defer wg.Done()
			v, err := invoke(context.Background(), "Delay", strconv.Itoa(d))
			if err != nil {
				results[i] = "error " + err.Error()
				return
			}
			results[i] = v
		}(i, d)
	}
	wg.Wait()
	out("concurrent", "%s", strings.Join(results, ","))
}
