// Command seed is the seed program written with containerd's own Go client
// (github.com/containerd/containerd 1.6, as Debian ships it): pull
// `redis:alpine` with unpack from the registry given on the command line,
// list the images with their sizes, create a container with a new snapshot
// and a spec from the image config, run its task with the program's stdio,
// wait (armed before start), start, sleep, stop it with SIGTERM and print
// the exit status.
//
// examples/seed.ts is the same program written with berth's TypeScript
// client; a test runs both against berthd and against containerd and
// compares what they print, so every line here is deterministic (no pid, no
// time, no random id).
//
// Usage: seed <registry-host> [<container-id>]. The daemon and namespace come
// from CONTAINERD_ADDRESS and CONTAINERD_NAMESPACE (defaults
// /run/containerd/containerd.sock and "default"). The registry is reached
// over plain HTTP when it is localhost or 127.0.0.1, as containerd does.
package main

import (
	"context"
	"fmt"
	"os"
	"sort"
	"syscall"
	"time"

	"github.com/containerd/containerd"
	"github.com/containerd/containerd/cio"
	"github.com/containerd/containerd/namespaces"
	"github.com/containerd/containerd/oci"
	"github.com/containerd/containerd/remotes/docker"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "seed:", err)
		os.Exit(1)
	}
}

func env(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func run() error {
	if len(os.Args) < 2 {
		return fmt.Errorf("usage: seed <registry-host> [<container-id>]")
	}
	ref := os.Args[1] + "/library/redis:alpine"
	id := "redis-server"
	if len(os.Args) > 2 {
		id = os.Args[2]
	}
	client, err := containerd.New(env("CONTAINERD_ADDRESS", "/run/containerd/containerd.sock"))
	if err != nil {
		return err
	}
	defer client.Close()
	ctx := namespaces.WithNamespace(context.Background(), env("CONTAINERD_NAMESPACE", "default"))

	resolver := docker.NewResolver(docker.ResolverOptions{
		Hosts: docker.ConfigureDefaultRegistries(docker.WithPlainHTTP(docker.MatchLocalhost)),
	})
	image, err := client.Pull(ctx, ref, containerd.WithPullUnpack, containerd.WithResolver(resolver))
	if err != nil {
		return err
	}
	fmt.Printf("pulled %s %s\n", image.Name(), image.Target().Digest)

	images, err := client.ListImages(ctx)
	if err != nil {
		return err
	}
	sort.Slice(images, func(i, j int) bool { return images[i].Name() < images[j].Name() })
	for _, img := range images {
		size, err := img.Size(ctx)
		if err != nil {
			return err
		}
		fmt.Printf("image %s %d\n", img.Name(), size)
	}

	container, err := client.NewContainer(ctx, id,
		containerd.WithNewSnapshot(id+"-snapshot", image),
		containerd.WithNewSpec(oci.WithImageConfig(image)),
	)
	if err != nil {
		return err
	}
	defer container.Delete(ctx, containerd.WithSnapshotCleanup)
	fmt.Printf("container %s created\n", container.ID())

	task, err := container.NewTask(ctx, cio.NewCreator(cio.WithStdio))
	if err != nil {
		return err
	}
	defer task.Delete(ctx)
	fmt.Println("task created")

	exitC, err := task.Wait(ctx)
	if err != nil {
		return err
	}
	if err := task.Start(ctx); err != nil {
		return err
	}
	fmt.Println("task started")
	time.Sleep(3 * time.Second)

	if err := task.Kill(ctx, syscall.SIGTERM); err != nil {
		return err
	}
	status := <-exitC
	code, _, err := status.Result()
	if err != nil {
		return err
	}
	fmt.Printf("%s exited with status: %d\n", id, code)
	return nil
}
