// callbench measures what containerd's own Go client waits for:
//
//	callbench <socket> <namespace> <calls>
//	callbench -lifecycle <socket> <namespace> <image> <containers>
//
// The first form makes each kind of single call one at a time on a warm
// connection and prints `<kind> <median µs> <p90 µs>`; the namespace must
// hold at least one image (its manifest is read and stat'ed). The second
// runs containers through their whole life (NewContainer with a snapshot
// and a spec from the image, NewTask, Start, Kill, Delete, container Delete)
// and prints `<phase> <median µs> <p90 µs>` for each phase.
package main

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strconv"
	"syscall"
	"time"

	"github.com/containerd/containerd"
	"github.com/containerd/containerd/cio"
	"github.com/containerd/containerd/content"
	"github.com/containerd/containerd/errdefs"
	"github.com/containerd/containerd/namespaces"
	"github.com/containerd/containerd/oci"
)

func main() {
	if len(os.Args) == 6 && os.Args[1] == "-lifecycle" {
		lifecycle(os.Args[2], os.Args[3], os.Args[4], os.Args[5])
		return
	}
	if len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: callbench <socket> <namespace> <calls>")
		os.Exit(2)
	}
	n, err := strconv.Atoi(os.Args[3])
	if err != nil || n < 1 {
		fmt.Fprintln(os.Stderr, "calls must be a positive integer")
		os.Exit(2)
	}
	client, err := containerd.New(os.Args[1])
	if err != nil {
		fail(err)
	}
	defer client.Close()
	ctx := namespaces.WithNamespace(context.Background(), os.Args[2])
	images, err := client.ImageService().List(ctx)
	if err != nil || len(images) == 0 {
		fail(fmt.Errorf("no image to read in namespace %s: %v", os.Args[2], err))
	}
	target := images[0].Target
	kinds := []struct {
		name string
		call func() error
	}{
		{"Version", func() error { _, err := client.Version(ctx); return err }},
		{"Containers.Get(missing)", func() error {
			_, err := client.ContainerService().Get(ctx, "callbench-missing")
			if errdefs.IsNotFound(err) {
				return nil
			}
			return err
		}},
		{"Content.Info", func() error { _, err := client.ContentStore().Info(ctx, target.Digest); return err }},
		{"Content.Read(manifest)", func() error {
			_, err := content.ReadBlob(ctx, client.ContentStore(), target)
			return err
		}},
	}
	for _, k := range kinds {
		// Warm up: the first calls pay for connection and code paths.
		for i := 0; i < 20; i++ {
			if err := k.call(); err != nil {
				fail(fmt.Errorf("%s: %w", k.name, err))
			}
		}
		d := make([]time.Duration, n)
		for i := range d {
			t := time.Now()
			if err := k.call(); err != nil {
				fail(fmt.Errorf("%s: %w", k.name, err))
			}
			d[i] = time.Since(t)
		}
		printQuantiles(k.name, d)
	}
}

func printQuantiles(name string, d []time.Duration) {
	sort.Slice(d, func(a, b int) bool { return d[a] < d[b] })
	fmt.Printf("%s %d %d\n", name, d[len(d)/2].Microseconds(), d[len(d)*9/10].Microseconds())
}

func lifecycle(socket, namespace, ref, count string) {
	n, err := strconv.Atoi(count)
	if err != nil || n < 1 {
		fail(fmt.Errorf("containers must be a positive integer"))
	}
	client, err := containerd.New(socket)
	if err != nil {
		fail(err)
	}
	defer client.Close()
	ctx := namespaces.WithNamespace(context.Background(), namespace)
	image, err := client.GetImage(ctx, ref)
	if err != nil {
		fail(err)
	}
	phases := []string{"NewContainer", "NewTask", "Start", "Kill+exit", "Task.Delete", "Container.Delete"}
	times := make(map[string][]time.Duration)
	lap := func(phase string, t time.Time) { times[phase] = append(times[phase], time.Since(t)) }
	for i := 0; i < n+1; i++ {
		id := fmt.Sprintf("callbench-%d-%d", os.Getpid(), i)
		t := time.Now()
		c, err := client.NewContainer(ctx, id, containerd.WithNewSnapshot(id, image),
			containerd.WithNewSpec(oci.WithImageConfig(image), oci.WithProcessArgs("sleep", "1000")))
		if err != nil {
			fail(err)
		}
		lap("NewContainer", t)
		t = time.Now()
		task, err := c.NewTask(ctx, cio.NullIO)
		if err != nil {
			fail(err)
		}
		lap("NewTask", t)
		exited, err := task.Wait(ctx)
		if err != nil {
			fail(err)
		}
		t = time.Now()
		if err := task.Start(ctx); err != nil {
			fail(err)
		}
		lap("Start", t)
		t = time.Now()
		if err := task.Kill(ctx, syscall.SIGKILL); err != nil {
			fail(err)
		}
		<-exited
		lap("Kill+exit", t)
		t = time.Now()
		if _, err := task.Delete(ctx); err != nil {
			fail(err)
		}
		lap("Task.Delete", t)
		t = time.Now()
		if err := c.Delete(ctx, containerd.WithSnapshotCleanup); err != nil {
			fail(err)
		}
		lap("Container.Delete", t)
		if i == 0 {
			// The first container warms up (shim and runc binaries, code paths).
			times = make(map[string][]time.Duration)
		}
	}
	for _, p := range phases {
		printQuantiles(p, times[p])
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "callbench:", err)
	os.Exit(1)
}
