package sched

import (
	"testing"
)

func BenchmarkPick1000(b *testing.B) {
	for _, name := range Names() {
		b.Run(name, func(b *testing.B) {
			ws := make([]int, 1000)
			for i := range ws {
				ws[i] = 1 + i%7
			}
			ds := dests(ws...)
			for i, d := range ds {
				setConns(d, int32(i%13), int32(i%29))
			}
			s := mustNew(b, name, FlagFallback|FlagPort, ds)
			flows := make([]Flow, 1024)
			for i := range flows {
				flows[i] = client(i)
			}
			for _, f := range flows { // warm the locality tables
				s.Pick(f)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				if s.Pick(flows[i&1023]) == nil {
					b.Fatal("no destination")
				}
			}
		})
	}
}

// BenchmarkPickParallel1000 picks from all CPUs at once.
func BenchmarkPickParallel1000(b *testing.B) {
	for _, name := range Names() {
		b.Run(name, func(b *testing.B) {
			ws := make([]int, 1000)
			for i := range ws {
				ws[i] = 1 + i%7
			}
			ds := dests(ws...)
			s := mustNew(b, name, FlagFallback|FlagPort, ds)
			flows := make([]Flow, 1024)
			for i := range flows {
				flows[i] = client(i)
				s.Pick(flows[i])
			}
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					if s.Pick(flows[i&1023]) == nil {
						b.Error("no destination")
						return
					}
					i++
				}
			})
		})
	}
}
