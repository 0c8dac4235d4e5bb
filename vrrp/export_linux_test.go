package vrrp

// For the external test package (vrrp_test): the "stays put" window of the
// integration tests, counted in adverts.
var StaysPut = staysPut
