package apply

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/liftoff-lab/liftoff/cluster/plan"
	"github.com/liftoff-lab/liftoff/internal/fileio"
	"github.com/liftoff-lab/liftoff/probe"
)

// WaitKubernetes waits until the Kubernetes API answers /readyz with the
// kubeconfig, with backoff, until ctx ends: right after bootstrap the
// kubeconfig exists well before kube-apiserver and etcd serve. Events carry
// the first control plane's name.
func WaitKubernetes(ctx context.Context, p *plan.Plan, kubeconfig []byte, opts Options, emit func(probe.Event)) error {
	opts = opts.withDefaults()

	b, err := BootstrapTarget(p)
	if err != nil {
		return err
	}

	cfg, err := clientcmd.RESTConfigFromKubeConfig(kubeconfig)
	if err != nil {
		return fmt.Errorf("kubeconfig: %w", err)
	}

	cfg.Timeout = opts.CallTimeout
	// The loop's backoff paces requests; client-go's limiter would only
	// turn a wait into a confusing "rate limiter" error.
	cfg.QPS = -1

	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("kubeconfig: %w", err)
	}

	bo := backoff{next: opts.Backoff, most: opts.MaxBackoff}
	start := time.Now()

	var prev error // the last answer before ctx ended, if any

	for attempt := 1; ; attempt++ {
		cctx, cancel := context.WithTimeout(ctx, opts.CallTimeout)
		// No client-go retries: this loop's backoff and events are the ones.
		_, err := cs.Discovery().RESTClient().Get().AbsPath("/readyz").MaxRetries(0).DoRaw(cctx)

		cancel()

		if err == nil {
			emit(note(b.Name, "done", "kubernetes: the API answers ready"))

			return nil
		}

		if apierrors.IsUnauthorized(err) || apierrors.IsForbidden(err) {
			return fmt.Errorf("kubernetes: the API refused the kubeconfig's credentials: %s", describeKube(err))
		}

		if ctx.Err() != nil {
			return stopped(ctx, "kubernetes", errors.New(describeKube(cmp.Or(prev, err))))
		}

		prev = err
		wait := bo.step()

		e := note(b.Name, "waiting", fmt.Sprintf("kubernetes: waiting for the API (attempt %d, %s so far), next try in %s: %s",
			attempt, roughly(time.Since(start)), wait, describeKube(err)))
		e.Count = attempt
		emit(e)

		if sleep(ctx, wait) != nil {
			return stopped(ctx, "kubernetes", errors.New(describeKube(err)))
		}
	}
}

// describeKube says why the Kubernetes API is not usable yet.
func describeKube(err error) string {
	var se *apierrors.StatusError
	if errors.As(err, &se) {
		// readyz's body lists its checks: keep the failing ones. client-go
		// puts a body it cannot decode in the causes.
		text := se.ErrStatus.Message
		if d := se.ErrStatus.Details; d != nil {
			for _, c := range d.Causes {
				text += "\n" + c.Message
			}
		}

		var failing []string

		for line := range strings.SplitSeq(text, "\n") {
			if strings.HasPrefix(strings.TrimSpace(line), "[-]") {
				failing = append(failing, strings.TrimSpace(line))
			}
		}

		if len(failing) > 0 {
			return fmt.Sprintf("the API answers but is not ready (HTTP %d): %s", se.ErrStatus.Code, strings.Join(failing, ", "))
		}

		return fmt.Sprintf("the API answers but is not ready (HTTP %d): %s", se.ErrStatus.Code, fileio.Redact(firstLine(se.ErrStatus.Message)))
	}

	if strings.Contains(err.Error(), "connection refused") {
		return "nothing answers on the Kubernetes API port yet (the control plane is starting)"
	}

	if probe.Explain(err).Kind == probe.OutageOtherCluster {
		return "the API's certificate is not from the kubeconfig's CA: this kubeconfig belongs to another cluster (" + fileio.Redact(err.Error()) + ")"
	}

	return "the API is not up yet: " + probe.Words(err)
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(s), "\n")

	return line
}
