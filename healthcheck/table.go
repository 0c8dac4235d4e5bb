package healthcheck

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/lvskit/lvskit/ipvs"
)

// Table is a Syncer that owns a whole IPVS table: it remembers the wanted
// state of every service it was given and makes the backend match all of
// them with ipvs.Sync. Services it was never given are removed from the
// backend, so give one Table all the pools of a director.
type Table struct {
	backend ipvs.Backend

	mu    sync.Mutex
	want  map[ipvs.ServiceKey]ipvs.Service
	order []ipvs.ServiceKey
}

var _ Syncer = (*Table)(nil)

// NewTable returns a Table writing to b.
func NewTable(b ipvs.Backend) *Table {
	return &Table{backend: b, want: map[ipvs.ServiceKey]ipvs.Service{}}
}

// SyncService records svc as wanted and syncs the table.
func (t *Table) SyncService(ctx context.Context, svc ipvs.Service) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	k := svc.Key()
	if _, ok := t.want[k]; !ok {
		t.order = append(t.order, k)
	}
	t.want[k] = svc
	return t.syncLocked(ctx)
}

// RemoveService forgets the service with key k and syncs the table.
func (t *Table) RemoveService(ctx context.Context, k ipvs.ServiceKey) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.want, k)
	t.order = slices.DeleteFunc(t.order, func(o ipvs.ServiceKey) bool { return o == k })
	return t.syncLocked(ctx)
}

func (t *Table) syncLocked(ctx context.Context) error {
	all := make([]ipvs.Service, 0, len(t.order))
	for _, k := range t.order {
		all = append(all, t.want[k])
	}
	if _, err := ipvs.Sync(ctx, t.backend, all); err != nil {
		return fmt.Errorf("sync ipvs table: %w", err)
	}
	return nil
}
