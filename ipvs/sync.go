package ipvs

import (
	"context"
	"errors"
	"fmt"
)

// errClosed is returned by a backend used after Close.
var errClosed = errors.New("backend closed")

// Sync makes b's table equal to want with the fewest writes: it validates
// want (nothing is written if any service is malformed), dumps the table,
// computes Diff and applies the result. It returns the operations it
// planned; when the table already matches, that list is empty and nothing
// is written. On an apply failure the error is an *ApplyError whose Index
// says how many of the returned operations were applied before it.
func Sync(ctx context.Context, b Backend, want []Service) ([]Op, error) {
	if err := ValidateTable(want); err != nil {
		return nil, fmt.Errorf("sync: %w", err)
	}
	have, err := b.Dump(ctx)
	if err != nil {
		return nil, fmt.Errorf("sync: %w", err)
	}
	ops := Diff(have, want)
	if len(ops) == 0 {
		return nil, nil
	}
	if err := b.Apply(ctx, ops); err != nil {
		return ops, fmt.Errorf("sync: %w", err)
	}
	return ops, nil
}
