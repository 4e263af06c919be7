// Package kube is the simulated lab's Kubernetes: a real control plane
// (etcd, kube-apiserver, kube-controller-manager, kube-scheduler as child
// processes, certificates from the cluster's Talos secrets bundle) and
// simulated kubelets, pod network and kube-proxy in process. Spin pods run a
// real WebAssembly module with wazero; http-echo pods are served natively.
// See docs/sim-kube.md.
package kube
