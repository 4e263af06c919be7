package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/liftoff-lab/liftoff/internal/fileio"
)

// mergeKubeconfig adds a cluster's entries to the default kubeconfig
// (~/.kube/config or $KUBECONFIG's first file), leaving the other entries
// alone and the previous file as a backup. It does not switch the current
// context unless there was none.
func mergeKubeconfig(data []byte) (string, error) {
	add, err := clientcmd.Load(data)
	if err != nil {
		return "", err
	}

	path := clientcmd.NewDefaultClientConfigLoadingRules().GetDefaultFilename()

	cur := clientcmdapi.NewConfig()

	if old, err := fileio.ReadFile(path, fileio.Kubeconfig); err == nil {
		if cur, err = clientcmd.Load(old); err != nil {
			return "", fmt.Errorf("%s is not a kubeconfig liftoff can read (%w); not merging — choose a separate file", path, err)
		}

		if err := os.WriteFile(path+".liftoff-backup", old, 0o600); err != nil {
			return "", err
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}

	for k, v := range add.Clusters {
		cur.Clusters[k] = v
	}

	for k, v := range add.AuthInfos {
		cur.AuthInfos[k] = v
	}

	for k, v := range add.Contexts {
		cur.Contexts[k] = v
	}

	if cur.CurrentContext == "" {
		cur.CurrentContext = add.CurrentContext
	}

	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", err
	}

	if err := clientcmd.WriteToFile(*cur, path); err != nil {
		return "", err
	}

	return path, os.Chmod(path, 0o600)
}
