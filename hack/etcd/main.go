// Command etcd is a whole etcd, built from its Go module for the
// simulated lab's control plane.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
