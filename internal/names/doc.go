// Package names says whether a string may name something that reaches a
// metric label, a log line or a status document: a VRRP instance, a sync
// group, a tracker, an interface, a script path, a checker's target.
//
// Prometheus panics on a label value that is not valid UTF-8, and a
// control character in a log line or an e-mail header lets one value
// pose as several. So the configuration parser checks every word of a
// file with Text at its position, and every name with Name or Interface;
// the libraries (vrrp, healthcheck) check the names they are given in
// their Validate methods, so that a caller that builds a configuration by
// hand gets an error, never a panic.
//
//	if err := names.Name(instance); err != nil {
//		return fmt.Errorf("instance name %q: %w", instance, err)
//	}
package names
