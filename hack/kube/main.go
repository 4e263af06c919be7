// Command kube is kube-apiserver, kube-controller-manager and
// kube-scheduler in one binary (one link is much faster than three),
// built from k8s.io/kubernetes as a module for the simulated lab.
//
//	kube apiserver|controller-manager|scheduler [flags]
package main

import (
	"fmt"
	"os"

	"k8s.io/component-base/cli"
	apiserver "k8s.io/kubernetes/cmd/kube-apiserver/app"
	controllermanager "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	scheduler "k8s.io/kubernetes/cmd/kube-scheduler/app"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: kube apiserver|controller-manager|scheduler [flags]")
		os.Exit(2)
	}

	component := os.Args[1]
	os.Args = append([]string{"kube-" + component}, os.Args[2:]...)

	switch component {
	case "apiserver":
		os.Exit(cli.Run(apiserver.NewAPIServerCommand()))
	case "controller-manager":
		os.Exit(cli.Run(controllermanager.NewControllerManagerCommand()))
	case "scheduler":
		os.Exit(cli.Run(scheduler.NewSchedulerCommand()))
	}

	fmt.Fprintln(os.Stderr, "unknown component", component, "(want apiserver, controller-manager or scheduler)")
	os.Exit(2)
}
