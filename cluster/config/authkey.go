package config

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/liftoff-lab/liftoff/internal/fileio"
)

// AuthKeyEnv are the environment variables an auth key may come from, in
// order. Keys never come from flags: flags end up in shell history and ps.
var AuthKeyEnv = []string{"LIFTOFF_TS_AUTHKEY", "TS_AUTHKEY"}

// ErrNoAuthKey means the plan has a gateway but no key was found.
var ErrNoAuthKey = errors.New("the gateway needs a Tailscale auth key and none was found: create one in the Tailscale admin console (Settings → Keys, reusable off, pre-approved if you can), save it to a file with mode 0600 and pass --tailscale-authkey-file FILE or set tailscale.authKeyFile in lab.yaml; or export TS_AUTHKEY")

// AuthKeySource tells where a key came from, for messages (never the key).
type AuthKeySource struct {
	Key    string
	Origin string // "file /path" or "env TS_AUTHKEY"
	// Warning is set when the key file is readable by others.
	Warning string
}

// ResolveAuthKey finds the auth key: an explicit file first, then the
// environment, then the plan's file (the least explicit choice). Empty result
// and nil error when none is set.
func ResolveAuthKey(flagFile, planFile string) (AuthKeySource, error) {
	if flagFile != "" {
		return keyFromFile(flagFile)
	}

	for _, env := range AuthKeyEnv {
		if v := strings.TrimSpace(os.Getenv(env)); v != "" {
			if err := CheckAuthKey(v); err != nil {
				return AuthKeySource{}, fmt.Errorf("$%s: %w", env, err)
			}

			return AuthKeySource{Key: v, Origin: "env " + env}, nil
		}
	}

	if planFile != "" {
		return keyFromFile(planFile)
	}

	return AuthKeySource{}, nil
}

func keyFromFile(path string) (AuthKeySource, error) {
	path = expandHome(path)

	data, err := fileio.ReadFile(path, fileio.AuthKey)
	if err != nil {
		return AuthKeySource{}, fmt.Errorf("reading the Tailscale auth key file: %w", err)
	}

	src := AuthKeySource{Key: strings.TrimSpace(string(data)), Origin: "file " + path}

	if st, err := os.Stat(path); err == nil && st.Mode().Perm()&0o077 != 0 {
		src.Warning = fmt.Sprintf("%s is readable by other users (mode %o): chmod 600 %s", path, st.Mode().Perm(), path)
	}

	if err := CheckAuthKey(src.Key); err != nil {
		return AuthKeySource{}, fmt.Errorf("%s: %w", path, err)
	}

	return src, nil
}

// CheckAuthKey rejects what cannot be a Tailscale auth key, without ever
// echoing it.
func CheckAuthKey(key string) error {
	switch {
	case key == "":
		return ErrNoAuthKey
	case !strings.HasPrefix(key, "tskey-"):
		return errors.New("that is not a Tailscale auth key (keys start with tskey-): check you saved the key, not its ID")
	case strings.ContainsAny(key, " \t\n,\"'"):
		return errors.New("the auth key contains spaces, quotes or commas: save only the key on one line")
	}

	return nil
}

func expandHome(path string) string {
	if rest, ok := strings.CutPrefix(path, "~/"); ok {
		if home, err := os.UserHomeDir(); err == nil {
			return home + "/" + rest
		}
	}

	return path
}
