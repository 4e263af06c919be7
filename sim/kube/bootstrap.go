package kube

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
)

// Bootstrap is what Talos's bootstrap manifests are rendered from on the
// bootstrapped control plane (k8s.BootstrapManifestsConfigSpec, filled by
// controllers/k8s/control_plane.go from the machine config).
type Bootstrap struct {
	// Server is how in-cluster agents reach the API server: KubePrism's
	// https://127.0.0.1:7445 when it is on (Talos's default).
	Server        string
	ClusterDomain string
	PodCIDRs      []string
	// DNSServiceIP is the tenth address of the service CIDR (10.96.0.10).
	DNSServiceIP string
	// CNI is cluster.network.cni.name: flannel (Talos deploys it), none
	// or custom (the operator installs one).
	CNI          string
	FlannelImage string
	ProxyImage   string
	CoreDNSImage string
	Proxy        bool // cluster.proxy.disabled is false
	CoreDNS      bool // cluster.coreDNS.disabled is false
}

// ApplyBootstrap creates what Talos v1.13.3's manifest controller applies
// to kube-system (controllers/k8s/manifest.go, templates in
// controllers/k8s/internal/k8stemplates): flannel (05-flannel) when it is
// the CNI, kube-proxy (10-kube-proxy), CoreDNS (11-core-dns, 11-core-dns-svc)
// and the in-cluster kubeconfig (11-kube-config-in-cluster). The objects
// carry Talos's names, labels, selectors, tolerations and images; the real
// controllers then schedule them and the simulated kubelets run them.
func (cp *ControlPlane) ApplyBootstrap(ctx context.Context, b Bootstrap) error {
	cs, err := clientFor(cp.admin)
	if err != nil {
		return err
	}

	var objs []any

	objs = append(objs, kubeconfigInCluster(b))

	if b.CNI == "flannel" {
		objs = append(objs, flannel(b)...)
	}

	if b.Proxy {
		objs = append(objs, kubeProxy(b)...)
	}

	if b.CoreDNS {
		objs = append(objs, coreDNS(b)...)
	}

	for _, o := range objs {
		if err := create(ctx, cs, o); err != nil {
			return err
		}
	}

	cp.logf("bootstrap manifests applied (cni %s, kube-proxy %v, coredns %v)", b.CNI, b.Proxy, b.CoreDNS)

	return nil
}

// create applies one object, leaving one that exists alone (Talos's
// manifest apply is a server-side apply that keeps what is there).
func create(ctx context.Context, cs kubernetes.Interface, o any) error {
	var err error

	switch v := o.(type) {
	case *corev1.ServiceAccount:
		_, err = cs.CoreV1().ServiceAccounts(v.Namespace).Create(ctx, v, metav1.CreateOptions{})
	case *corev1.ConfigMap:
		_, err = cs.CoreV1().ConfigMaps(v.Namespace).Create(ctx, v, metav1.CreateOptions{})
	case *corev1.Service:
		_, err = cs.CoreV1().Services(v.Namespace).Create(ctx, v, metav1.CreateOptions{})
	case *rbacv1.ClusterRole:
		_, err = cs.RbacV1().ClusterRoles().Create(ctx, v, metav1.CreateOptions{})
	case *rbacv1.ClusterRoleBinding:
		_, err = cs.RbacV1().ClusterRoleBindings().Create(ctx, v, metav1.CreateOptions{})
	case *appsv1.DaemonSet:
		_, err = cs.AppsV1().DaemonSets(v.Namespace).Create(ctx, v, metav1.CreateOptions{})
	case *appsv1.Deployment:
		_, err = cs.AppsV1().Deployments(v.Namespace).Create(ctx, v, metav1.CreateOptions{})
	default:
		return fmt.Errorf("bootstrap manifest of type %T", o)
	}

	if apierrors.IsAlreadyExists(err) {
		return nil
	}

	if err != nil {
		return fmt.Errorf("bootstrap manifest %T: %w", o, err)
	}

	return nil
}

func kubeSystem(name string, labels map[string]string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: metav1.NamespaceSystem, Labels: labels}
}

func kubeconfigInCluster(b Bootstrap) *corev1.ConfigMap {
	kc := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: local
  cluster:
    server: %s
    certificate-authority: /var/run/secrets/kubernetes.io/serviceaccount/ca.crt
users:
- name: service-account
  user:
    tokenFile: /var/run/secrets/kubernetes.io/serviceaccount/token
contexts:
- context:
    cluster: local
    user: service-account
`, b.Server)

	return &corev1.ConfigMap{ObjectMeta: kubeSystem("kubeconfig-in-cluster", nil), Data: map[string]string{"kubeconfig": kc}}
}

// tolerateAll is the node agents' tolerations: every NoSchedule and
// NoExecute taint, so they run on not-ready and control-plane nodes.
var tolerateAll = []corev1.Toleration{
	{Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
	{Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute},
}

func flannel(b Bootstrap) []any {
	labels := map[string]string{"k8s-app": "flannel", "tier": "node"}

	netConf, _ := json.Marshal(map[string]any{"Network": strings.Join(b.PodCIDRs, ","), "Backend": map[string]string{"Type": "vxlan", "Port": "4789"}}) //nolint:errchkjson

	cniConf := `{
  "name": "cbr0",
  "cniVersion": "1.0.0",
  "plugins": [
    {"type": "flannel", "delegate": {"hairpinMode": true, "isDefaultGateway": true}},
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}`

	env := []corev1.EnvVar{
		{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
		{Name: "POD_NAMESPACE", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}},
		{Name: "EVENT_QUEUE_DEPTH", Value: "5000"},
		{Name: "CONT_WHEN_CACHE_NOT_READY", Value: "false"},
	}

	if host, port, ok := strings.Cut(strings.TrimPrefix(b.Server, "https://"), ":"); ok && host == "127.0.0.1" {
		env = append(env, corev1.EnvVar{Name: "KUBERNETES_SERVICE_HOST", Value: host}, corev1.EnvVar{Name: "KUBERNETES_SERVICE_PORT", Value: port})
	}

	return []any{
		&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "flannel"}, Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get"}},
			{APIGroups: []string{""}, Resources: []string{"nodes"}, Verbs: []string{"get", "list", "watch"}},
			{APIGroups: []string{""}, Resources: []string{"nodes/status"}, Verbs: []string{"patch"}},
		}},
		&rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "flannel"},
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "flannel"},
			Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: "flannel", Namespace: metav1.NamespaceSystem}}},
		&corev1.ServiceAccount{ObjectMeta: kubeSystem("flannel", nil)},
		&corev1.ConfigMap{ObjectMeta: kubeSystem("kube-flannel-cfg", labels), Data: map[string]string{"cni-conf.json": cniConf, "net-conf.json": string(netConf)}},
		&appsv1.DaemonSet{
			ObjectMeta: kubeSystem("kube-flannel", labels),
			Spec: appsv1.DaemonSetSpec{
				Selector: &metav1.LabelSelector{MatchLabels: labels},
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: labels},
					Spec: corev1.PodSpec{
						Affinity: &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
							NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{
								{Key: corev1.LabelOSStable, Operator: corev1.NodeSelectorOpIn, Values: []string{"linux"}},
							}}},
						}}},
						InitContainers: []corev1.Container{{
							Name: "install-config", Image: b.FlannelImage, Command: []string{"cp"},
							Args: []string{"-f", "/etc/kube-flannel/cni-conf.json", "/etc/cni/net.d/10-flannel.conflist"},
						}},
						Containers: []corev1.Container{{
							Name: "kube-flannel", Image: b.FlannelImage, Command: []string{"/opt/bin/flanneld"},
							Args: []string{"--ip-masq", "--kube-subnet-mgr"}, Env: env,
							Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
								corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("50Mi"),
							}},
							SecurityContext: &corev1.SecurityContext{Capabilities: &corev1.Capabilities{Add: []corev1.Capability{"NET_ADMIN", "NET_RAW"}}, Privileged: new(false)},
						}},
						HostNetwork: true, PriorityClassName: "system-node-critical", ServiceAccountName: "flannel", Tolerations: tolerateAll,
					},
				},
			},
		},
	}
}

func kubeProxy(b Bootstrap) []any {
	labels := map[string]string{"k8s-app": "kube-proxy", "tier": "node"}

	return []any{
		&corev1.ServiceAccount{ObjectMeta: kubeSystem("kube-proxy", nil)},
		&rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "kube-proxy"},
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "system:node-proxier"},
			Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: "kube-proxy", Namespace: metav1.NamespaceSystem}}},
		&appsv1.DaemonSet{
			ObjectMeta: kubeSystem("kube-proxy", labels),
			Spec: appsv1.DaemonSetSpec{
				Selector: &metav1.LabelSelector{MatchLabels: labels},
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: labels},
					Spec: corev1.PodSpec{
						Containers: []corev1.Container{{
							Name: "kube-proxy", Image: b.ProxyImage,
							Command: []string{"/usr/local/bin/kube-proxy", "--cluster-cidr=" + strings.Join(b.PodCIDRs, ","), "--hostname-override=$(NODE_NAME)",
								"--kubeconfig=/etc/kubernetes/kubeconfig", "--proxy-mode=iptables", "--conntrack-max-per-core=0"},
							Env: []corev1.EnvVar{
								{Name: "NODE_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "spec.nodeName"}}},
								{Name: "POD_IP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIP"}}},
							},
							SecurityContext: &corev1.SecurityContext{Privileged: new(true)},
						}},
						HostNetwork: true, PriorityClassName: "system-cluster-critical", ServiceAccountName: "kube-proxy", Tolerations: tolerateAll,
					},
				},
			},
		},
	}
}

func coreDNS(b Bootstrap) []any {
	labels := map[string]string{"k8s-app": "kube-dns"}
	svcLabels := map[string]string{"k8s-app": "kube-dns", "kubernetes.io/cluster-service": "true", "kubernetes.io/name": "CoreDNS"}

	corefile := fmt.Sprintf(`.:53 {
    errors
    health {
        lameduck 5s
    }
    ready
    log . {
        class error
    }
    prometheus :9153
    kubernetes %s in-addr.arpa ip6.arpa {
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
        ttl 30
    }
    forward . /etc/resolv.conf {
       max_concurrent 1000
    }
    cache 30 {
        denial 9984 30
    }
    loop
    reload
    loadbalance
}
`, b.ClusterDomain)

	return []any{
		&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "system:coredns"}, Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{""}, Resources: []string{"endpoints", "services", "pods", "namespaces"}, Verbs: []string{"list", "watch"}},
			{APIGroups: []string{"discovery.k8s.io"}, Resources: []string{"endpointslices"}, Verbs: []string{"list", "watch"}},
		}},
		&rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "system:coredns"},
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "system:coredns"},
			Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: "coredns", Namespace: metav1.NamespaceSystem}}},
		&corev1.ServiceAccount{ObjectMeta: kubeSystem("coredns", nil)},
		&corev1.ConfigMap{ObjectMeta: kubeSystem("coredns", nil), Data: map[string]string{"Corefile": corefile}},
		&appsv1.Deployment{
			ObjectMeta: kubeSystem("coredns", map[string]string{"k8s-app": "kube-dns", "kubernetes.io/name": "CoreDNS"}),
			Spec: appsv1.DeploymentSpec{
				Replicas: new(int32(2)),
				Selector: &metav1.LabelSelector{MatchLabels: labels},
				Strategy: appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType, RollingUpdate: &appsv1.RollingUpdateDeployment{MaxUnavailable: new(intstr.FromInt32(1))}},
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: labels},
					Spec: corev1.PodSpec{
						Affinity: &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []corev1.WeightedPodAffinityTerm{{
							Weight: 100, PodAffinityTerm: corev1.PodAffinityTerm{TopologyKey: corev1.LabelHostname, LabelSelector: &metav1.LabelSelector{
								MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "k8s-app", Operator: metav1.LabelSelectorOpIn, Values: []string{"kube-dns"}}},
							}},
						}}}},
						Containers: []corev1.Container{{
							Name: "coredns", Image: b.CoreDNSImage, Args: []string{"-conf", "/etc/coredns/Corefile"},
							Env: []corev1.EnvVar{{Name: "GOMEMLIMIT", Value: "161MiB"}},
							Ports: []corev1.ContainerPort{
								{Name: "dns", ContainerPort: 53, Protocol: corev1.ProtocolUDP},
								{Name: "dns-tcp", ContainerPort: 53, Protocol: corev1.ProtocolTCP},
								{Name: "metrics", ContainerPort: 9153, Protocol: corev1.ProtocolTCP},
							},
							ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/ready", Port: intstr.FromInt32(8181), Scheme: corev1.URISchemeHTTP}}},
							LivenessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/health", Port: intstr.FromInt32(8080), Scheme: corev1.URISchemeHTTP}},
								InitialDelaySeconds: 60, TimeoutSeconds: 5, SuccessThreshold: 1, FailureThreshold: 5},
							Resources: corev1.ResourceRequirements{
								Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("170Mi")},
								Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("70Mi")},
							},
						}},
						DNSPolicy:          corev1.DNSDefault,
						NodeSelector:       map[string]string{corev1.LabelOSStable: "linux"},
						PriorityClassName:  "system-cluster-critical",
						ServiceAccountName: "coredns",
						Tolerations: []corev1.Toleration{
							{Key: "node-role.kubernetes.io/control-plane", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
							{Key: "node.cloudprovider.kubernetes.io/uninitialized", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
						},
					},
				},
			},
		},
		&corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: "kube-dns", Namespace: metav1.NamespaceSystem, Labels: svcLabels,
				Annotations: map[string]string{"prometheus.io/port": "9153", "prometheus.io/scrape": "true"}},
			Spec: corev1.ServiceSpec{
				Selector: labels, ClusterIP: b.DNSServiceIP, ClusterIPs: []string{b.DNSServiceIP},
				Ports: []corev1.ServicePort{
					{Name: "dns", Port: 53, Protocol: corev1.ProtocolUDP, TargetPort: intstr.FromInt32(53)},
					{Name: "dns-tcp", Port: 53, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(53)},
					{Name: "metrics", Port: 9153, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(9153)},
				},
			},
		},
	}
}

// StaticPod is one control-plane static pod Talos writes for the kubelet
// (controllers/k8s/control_plane_static_pod.go): its mirror pod carries
// these labels.
type StaticPod struct {
	Name  string // kube-apiserver, kube-controller-manager, kube-scheduler
	Image string
}

// StaticPodLabels are the labels Talos gives its control-plane static pods.
func StaticPodLabels(name, k8sVersion string) map[string]string {
	return map[string]string{
		"tier": "control-plane", "k8s-app": name, "component": name,
		"app.kubernetes.io/name": name, "app.kubernetes.io/version": strings.TrimPrefix(k8sVersion, "v"),
		"app.kubernetes.io/component": "control-plane", "app.kubernetes.io/managed-by": "Talos",
	}
}
