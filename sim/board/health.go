package board

import (
	clusterapi "github.com/siderolabs/talos/pkg/machinery/api/cluster"
)

// clusterService is Talos's cluster service (HealthCheck).
type clusterService struct {
	clusterapi.UnimplementedClusterServiceServer

	b *Board
}
