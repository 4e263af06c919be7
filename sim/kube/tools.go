package kube

import "github.com/liftoff-lab/liftoff/internal/toolpath"

// findTool locates bin/kube and bin/etcd; a variable so tests can stub it.
var findTool = toolpath.Find
