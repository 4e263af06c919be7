package probe

import (
	"context"
	"crypto/x509"
	"errors"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Why a board's Talos API could not be used, as a kind (Reachable events
// carry it in State) and words a person can act on. Every place that turns
// such an error into words — the watch, the snapshot, apply, discovery,
// preflight — asks Explain, so one cause reads the same everywhere.
const (
	OutageRefused      = "refused"       // nothing listens on the port
	OutageTimeout      = "timeout"       // no answer in time
	OutageDropped      = "dropped"       // the connection broke
	OutageOtherCluster = "other-cluster" // mutual TLS failed: the board's CA is not this talosconfig's
	OutageConfigured   = "configured"    // it asks for a client certificate and none was offered
	OutageNotTalos     = "not-talos"     // something that is not a Talos API answers
	OutageOther        = "other"
)

// APIOutage is an error talking to a board, explained.
type APIOutage struct {
	Kind string
	// Words say what happened, for a person.
	Words string
	// Fix says what to do about it.
	Fix string
}

// OtherClusterFix is what to do when a board refuses the talosconfig.
const OtherClusterFix = "this talosconfig belongs to another cluster: use the talosconfig liftoff gen wrote next to the secrets.yaml " +
	"this board's config was made from (check --talosconfig), or, if the board should join this cluster, reset it to maintenance mode " +
	"with its own cluster's talosconfig (talosctl reset --talosconfig OLD -n ADDRESS -e ADDRESS --graceful=false --reboot " +
	"--system-labels-to-wipe STATE --system-labels-to-wipe EPHEMERAL) and apply this cluster's config"

// Explain classifies an error from talking to a board's Talos API.
func Explain(err error) APIOutage {
	if err == nil {
		return APIOutage{Kind: OutageOther, Words: "not reachable", Fix: powerFix}
	}

	msg := err.Error()
	lower := strings.ToLower(msg)

	var unknownCA x509.UnknownAuthorityError

	switch {
	case errors.As(err, &unknownCA), strings.Contains(lower, "unknown authority"), strings.Contains(lower, "unknown certificate authority"),
		strings.Contains(lower, "bad certificate") && !strings.Contains(lower, "certificate required"):
		// Either side's CA is not the other's: the board runs a config
		// from other secrets than this talosconfig's.
		return APIOutage{Kind: OutageOtherCluster, Fix: OtherClusterFix,
			Words: "the board refused liftoff's client certificate: it runs a config from other secrets — this talosconfig belongs to another cluster (a talosconfig matches secrets.yaml only for the cluster it was made with)"}
	case strings.Contains(lower, "certificate required"):
		return APIOutage{Kind: OutageConfigured, Fix: configuredFix,
			Words: "the board runs a config already: it asks for a client certificate, and none was offered"}
	case notTalos(err, lower):
		return APIOutage{Kind: OutageNotTalos, Fix: notTalosFix,
			Words: "something that is not a Talos API answers there (" + notTalosWhat(lower) + ")"}
	case strings.Contains(lower, "connection refused"):
		return APIOutage{Kind: OutageRefused, Fix: powerFix,
			Words: "nothing answers on the port yet (booting or rebooting, installing, or powered off)"}
	case errors.Is(err, context.DeadlineExceeded), status.Code(err) == codes.DeadlineExceeded,
		strings.Contains(lower, "deadline exceeded"), strings.Contains(lower, "i/o timeout"):
		return APIOutage{Kind: OutageTimeout, Fix: powerFix,
			Words: "no answer in time (powered off, rebooting, or at another address now)"}
	case strings.Contains(lower, "connection reset"), strings.Contains(lower, "eof"), strings.Contains(lower, "broken pipe"),
		strings.Contains(lower, "transport is closing"), strings.Contains(lower, "connection lost"),
		strings.Contains(lower, "error reading from server"), strings.Contains(lower, "connection closed"):
		return APIOutage{Kind: OutageDropped, Fix: powerFix, Words: "the board dropped the connection"}
	case strings.Contains(lower, "x509:"), strings.Contains(lower, "tls:"), strings.Contains(lower, "authentication handshake failed"):
		return APIOutage{Kind: OutageOtherCluster, Fix: OtherClusterFix,
			Words: "the TLS handshake failed (" + lastPart(msg) + "): the board and this talosconfig do not trust each other — check the talosconfig matches secrets.yaml"}
	}

	if s, ok := status.FromError(err); ok && s.Code() != codes.Unknown {
		return APIOutage{Kind: OutageOther, Fix: powerFix, Words: s.Message()}
	}

	return APIOutage{Kind: OutageOther, Fix: powerFix, Words: msg}
}

const (
	configuredFix = "give liftoff the talosconfig of the cluster this board belongs to (liftoff gen wrote it next to the configs)"
	notTalosFix   = "check the address and the port: Talos's API (apid) listens on 50000, and a board in maintenance mode shows its address on screen"
)

const powerFix = "check power and network; a board that is rebooting comes back by itself — liftoff keeps watching"

// notTalos tells the errors of reaching a server that speaks something
// else: plain TCP or HTTP where TLS was expected, TLS without HTTP/2 (ALPN),
// HTTP/2 that is not gRPC, gRPC without Talos's services.
func notTalos(err error, lower string) bool {
	if status.Code(err) == codes.Unimplemented && strings.Contains(lower, "unknown service") {
		return true
	}

	for _, w := range []string{
		"first record does not look like a tls handshake", "missing selected alpn", "no application protocol",
		"server preface", "http2: frame too large", "malformed http", "unexpected http status", "not a grpc",
		"content-type", "tls: oversized record", "record overflow",
	} {
		if strings.Contains(lower, w) {
			return true
		}
	}

	return false
}

func notTalosWhat(lower string) string {
	switch {
	case strings.Contains(lower, "unknown service"):
		return "a gRPC server without Talos's services"
	case strings.Contains(lower, "first record does not look like a tls handshake"), strings.Contains(lower, "oversized record"):
		return "it does not speak TLS"
	case strings.Contains(lower, "alpn"), strings.Contains(lower, "no application protocol"):
		return "TLS without HTTP/2"
	}

	return "it does not speak gRPC"
}

// lastPart is the innermost part of a wrapped error message.
func lastPart(msg string) string {
	if i := strings.LastIndex(msg, ": "); i >= 0 && i+2 < len(msg) {
		return msg[i+2:]
	}

	return msg
}
