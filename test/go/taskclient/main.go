// Command taskclient drives a containerd-API daemon through a container's
// whole life with containerd's own Go client (github.com/containerd/containerd
// 1.6): pull and unpack an image from a plain-HTTP registry on the loopback,
// create a container with a fresh snapshot and a generated spec, run its task
// with captured stdio, stop it with SIGTERM, and clean everything up.
//
// It prints one deterministic `key: value` line per observation (never a pid,
// a time or a random id), so that its output against berthd can be compared
// line for line with its output against containerd.
//
// Usage: taskclient <socket> <namespace> <image-ref> [<container-id>]. The
// image must have a busybox `sh`. The container id defaults to "taskclient";
// tests pass one unique to their process, since every containerd on the
// host keeps runc's state under /run/containerd/runc/<namespace>/<id>.
// Exits non-zero on any unexpected error.
package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/containerd/containerd"
	"github.com/containerd/containerd/cio"
	"github.com/containerd/containerd/errdefs"
	"github.com/containerd/containerd/images"
	"github.com/containerd/containerd/namespaces"
	"github.com/containerd/containerd/oci"
	"github.com/containerd/containerd/remotes/docker"
)

// The container's script. The trap is set before anything is printed, so a
// SIGTERM sent after "ready" is always handled (a shell that is pid 1 of its
// pid namespace would otherwise ignore it). The handler runs once the current
// `sleep` returns, prints one more line and exits with exitCode.
const (
	exitCode   = 3
	stdoutLine = "hello from stdout"
	stderrLine = "hello from stderr"
	script     = "trap 'echo got TERM; exit 3' TERM; echo " + stdoutLine +
		"; echo " + stderrLine + " >&2; echo ready; while :; do sleep 0.1; done"
)

func out(key string, format string, args ...interface{}) {
	fmt.Printf("%s: %s\n", key, fmt.Sprintf(format, args...))
}

func fail(what string, err error) {
	fmt.Fprintf(os.Stderr, "taskclient: %s: %v\n", what, err)
	os.Exit(1)
}

// class names the errdefs class of err, as the Go client sees it.
func class(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errdefs.IsInvalidArgument(err):
		return "invalid-argument"
	case errdefs.IsNotFound(err):
		return "not-found"
	case errdefs.IsAlreadyExists(err):
		return "already-exists"
	case errdefs.IsFailedPrecondition(err):
		return "failed-precondition"
	case errdefs.IsUnavailable(err):
		return "unavailable"
	case errdefs.IsNotImplemented(err):
		return "not-implemented"
	case errdefs.IsCanceled(err):
		return "canceled"
	case errdefs.IsDeadlineExceeded(err):
		return "deadline-exceeded"
	case errors.Is(err, errdefs.ErrUnknown):
		return "unknown"
	}
	return "unclassified"
}

// stream collects what the task writes to one of its streams and lets the
// caller wait until a given line has arrived.
type stream struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	changed chan struct{}
}

func newStream() *stream {
	return &stream{changed: make(chan struct{})}
}

func (s *stream) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.buf.Write(p)
	close(s.changed)
	s.changed = make(chan struct{})
	return len(p), nil
}

func (s *stream) lines() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	text := strings.TrimSuffix(s.buf.String(), "\n")
	if text == "" {
		return nil
	}
	return strings.Split(text, "\n")
}

// waitLine waits until line is one of the complete lines written so far.
func (s *stream) waitLine(ctx context.Context, line string) error {
	for {
		s.mu.Lock()
		has := strings.Contains("\n"+s.buf.String(), "\n"+line+"\n")
		changed := s.changed
		s.mu.Unlock()
		if has {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("waiting for %q: %w", line, ctx.Err())
		}
	}
}

func imageLines(ctx context.Context, client *containerd.Client, key string) {
	list, err := client.ListImages(ctx)
	if err != nil {
		fail("ListImages", err)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].Name() < list[j].Name() })
	out(key+".count", "%d", len(list))
	for _, img := range list {
		size, err := img.Size(ctx)
		if err != nil {
			fail("Size "+img.Name(), err)
		}
		out(key, "%s %s %d", img.Name(), img.Target().Digest, size)
	}
}

func status(ctx context.Context, task containerd.Task, key string) {
	st, err := task.Status(ctx)
	if err != nil {
		fail("Status ("+key+")", err)
	}
	out(key, "%s", st.Status)
	if st.Status == containerd.Stopped {
		out(key+".exit-status", "%d", st.ExitStatus)
		out(key+".exit-time.set", "%v", !st.ExitTime.IsZero())
	}
}

func main() {
	if len(os.Args) != 4 && len(os.Args) != 5 {
		fmt.Fprintln(os.Stderr, "usage: taskclient <socket> <namespace> <image-ref> [<container-id>]")
		os.Exit(2)
	}
	address, namespace, ref := os.Args[1], os.Args[2], os.Args[3]
	containerID := "taskclient"
	if len(os.Args) == 5 {
		containerID = os.Args[4]
	}
	snapshotKey := containerID + "-snapshot"

	// The spec generator reads the namespace from the context, not the client.
	ctx, cancel := context.WithTimeout(
		namespaces.WithNamespace(context.Background(), namespace), 90*time.Second)
	defer cancel()

	client, err := containerd.New(address,
		containerd.WithDefaultNamespace(namespace),
		containerd.WithTimeout(20*time.Second))
	if err != nil {
		fail("connect", err)
	}
	defer client.Close()
	out("connect", "ok")
	out("runtime", "%s", client.Runtime())

	// The registry is plain HTTP on the loopback: only localhost and
	// loopback addresses are contacted without TLS.
	resolver := docker.NewResolver(docker.ResolverOptions{
		Hosts: docker.ConfigureDefaultRegistries(docker.WithPlainHTTP(docker.MatchLocalhost)),
	})
	image, err := client.Pull(ctx, ref, containerd.WithPullUnpack, containerd.WithResolver(resolver))
	if err != nil {
		fail("Pull "+ref, err)
	}
	out("pull.name", "%s", image.Name())
	out("pull.target.digest", "%s", image.Target().Digest)
	out("pull.target.media-type", "%s", image.Target().MediaType)
	unpacked, err := image.IsUnpacked(ctx, containerd.DefaultSnapshotter)
	if err != nil {
		fail("IsUnpacked", err)
	}
	out("pull.unpacked", "%v", unpacked)
	imageLines(ctx, client, "images")

	_, err = client.LoadContainer(ctx, containerID)
	out("container.load.missing", "%s", class(err))

	container, err := client.NewContainer(ctx, containerID,
		containerd.WithNewSnapshot(snapshotKey, image),
		containerd.WithNewSpec(oci.WithImageConfig(image), oci.WithProcessArgs("sh", "-c", script)))
	if err != nil {
		fail("NewContainer", err)
	}
	out("container.id", "%s", container.ID())
	info, err := container.Info(ctx)
	if err != nil {
		fail("Info", err)
	}
	out("container.image", "%s", info.Image)
	out("container.runtime", "%s", info.Runtime.Name)
	out("container.snapshotter", "%s", info.Snapshotter)
	out("container.snapshot-key", "%s", info.SnapshotKey)
	spec, err := container.Spec(ctx)
	if err != nil {
		fail("Spec", err)
	}
	out("container.spec.args", "%s", strings.Join(spec.Process.Args, " | "))
	out("container.spec.env", "%s", strings.Join(spec.Process.Env, " "))
	out("container.spec.cwd", "%s", spec.Process.Cwd)
	listed, err := client.Containers(ctx)
	if err != nil {
		fail("Containers", err)
	}
	ids := make([]string, 0, len(listed))
	for _, c := range listed {
		ids = append(ids, c.ID())
	}
	sort.Strings(ids)
	out("containers", "%s", strings.Join(ids, ","))

	_, err = client.NewContainer(ctx, containerID, containerd.WithNewSpec())
	out("container.create.exists", "%s", class(err))

	_, err = container.Task(ctx, nil)
	out("task.load.before-create", "%s", class(err))

	fifos, err := os.MkdirTemp("", "taskclient-fifo-")
	if err != nil {
		fail("fifo dir", err)
	}
	defer os.RemoveAll(fifos)
	stdout, stderr := newStream(), newStream()
	task, err := container.NewTask(ctx, cio.NewCreator(
		cio.WithStreams(nil, stdout, stderr), cio.WithFIFODir(fifos)))
	if err != nil {
		fail("NewTask", err)
	}
	out("task.id", "%s", task.ID())
	status(ctx, task, "task.status.created")

	_, err = container.NewTask(ctx, cio.NullIO)
	out("task.create.exists", "%s", class(err))

	err = container.Delete(ctx)
	out("container.delete.with-task", "%s", class(err))

	// Wait is asked before Start, so the exit cannot be missed.
	exited, err := task.Wait(ctx)
	if err != nil {
		fail("Wait", err)
	}
	if err := task.Start(ctx); err != nil {
		fail("Start", err)
	}
	out("task.start", "ok")
	status(ctx, task, "task.status.started")

	ready, cancelReady := context.WithTimeout(ctx, 20*time.Second)
	if err := stdout.waitLine(ready, "ready"); err != nil {
		fail("stdout", err)
	}
	if err := stderr.waitLine(ready, stderrLine); err != nil {
		fail("stderr", err)
	}
	cancelReady()
	out("task.ready", "ok")

	_, err = task.Delete(ctx)
	out("task.delete.running", "%s", class(err))

	if err := task.Kill(ctx, syscall.SIGTERM); err != nil {
		fail("Kill", err)
	}
	out("task.kill", "ok")

	var exit containerd.ExitStatus
	select {
	case exit = <-exited:
	case <-time.After(20 * time.Second):
		fail("Wait", errors.New("no exit 20 s after SIGTERM"))
	}
	code, exitedAt, err := exit.Result()
	if err != nil {
		fail("Wait result", err)
	}
	out("task.wait.exit-status", "%d", code)
	out("task.wait.exit-time.set", "%v", !exitedAt.IsZero())
	status(ctx, task, "task.status.exited")

	err = task.Kill(ctx, syscall.SIGTERM)
	out("task.kill.exited", "%s", class(err))

	// The last line goes through the shim's copy and the fifo; wait for it
	// so the captured output does not depend on timing.
	drained, cancelDrained := context.WithTimeout(ctx, 10*time.Second)
	if err := stdout.waitLine(drained, "got TERM"); err != nil {
		fail("stdout", err)
	}
	cancelDrained()

	deleted, err := task.Delete(ctx)
	if err != nil {
		fail("Delete task", err)
	}
	out("task.delete.exit-status", "%d", deleted.ExitCode())
	for _, l := range stdout.lines() {
		out("stdout", "%s", l)
	}
	for _, l := range stderr.lines() {
		out("stderr", "%s", l)
	}

	_, err = container.Task(ctx, nil)
	out("task.load.after-delete", "%s", class(err))

	if err := container.Delete(ctx, containerd.WithSnapshotCleanup); err != nil {
		fail("Delete container", err)
	}
	out("container.delete", "ok")
	_, err = client.LoadContainer(ctx, containerID)
	out("container.load.after-delete", "%s", class(err))
	_, err = client.SnapshotService(info.Snapshotter).Stat(ctx, snapshotKey)
	out("snapshot.after-delete", "%s", class(err))
	imageLines(ctx, client, "images.after-cleanup")

	if err := client.ImageService().Delete(ctx, image.Name(), images.SynchronousDelete()); err != nil {
		fail("Delete image", err)
	}
	out("image.delete", "ok")
	imageLines(ctx, client, "images.after-image-delete")

	if exit.ExitCode() != exitCode {
		fmt.Fprintf(os.Stderr, "taskclient: exit status %d, want %d\n", exit.ExitCode(), exitCode)
		os.Exit(1)
	}
}
