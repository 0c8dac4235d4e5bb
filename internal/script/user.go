package script

import (
	"fmt"
	"os"
	"os/user"
	"strconv"
	"syscall"
)

// DefaultUser is keepalived's default script user: scripts run as this
// user when it exists and no script_user is configured.
const DefaultUser = "keepalived_script"

// Identity is the user and group a script runs as.
type Identity struct {
	UID, GID uint32
	// User and Group are the names it was looked up by (for messages).
	User, Group string
}

// String is "user:group (uid:gid)".
func (id Identity) String() string {
	return fmt.Sprintf("%s:%s (%d:%d)", id.User, id.Group, id.UID, id.GID)
}

// Credential is how to run a program as id, as keepalived does: the user,
// the group, and that group alone as the supplementary groups.
func (id Identity) Credential() *syscall.Credential {
	return &syscall.Credential{Uid: id.UID, Gid: id.GID, Groups: []uint32{id.GID}}
}

// Privileged reports whether a program run as id has root's user or
// group, which is when keepalived checks that no other user can change it.
func (id Identity) Privileged() bool { return id.UID == 0 || id.GID == 0 }

// Lookup resolves keepalived's "USER [GROUP]": the user's ID and primary
// group, or the named group's ID when group is not empty.
func Lookup(name, group string) (Identity, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return Identity{}, fmt.Errorf("look up script user %q: %w", name, err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return Identity{}, fmt.Errorf("look up script user %q: uid %q: %w", name, u.Uid, err)
	}
	gidText := u.Gid
	groupName := group
	if group != "" {
		g, err := user.LookupGroup(group)
		if err != nil {
			return Identity{}, fmt.Errorf("look up script group %q: %w", group, err)
		}
		gidText = g.Gid
	} else if g, err := user.LookupGroupId(u.Gid); err == nil {
		groupName = g.Name
	} else {
		groupName = u.Gid
	}
	gid, err := strconv.ParseUint(gidText, 10, 32)
	if err != nil {
		return Identity{}, fmt.Errorf("look up script group of %q: gid %q: %w", name, gidText, err)
	}
	return Identity{UID: uint32(uid), GID: uint32(gid), User: name, Group: groupName}, nil
}

// Self is the identity of this process (its effective user and group):
// keepalived's scripts run as it when there is no script user.
func Self() Identity {
	uid, gid := os.Geteuid(), os.Getegid()
	id := Identity{UID: uint32(uid), GID: uint32(gid), User: strconv.Itoa(uid), Group: strconv.Itoa(gid)}
	if u, err := user.LookupId(id.User); err == nil {
		id.User = u.Username
	}
	if g, err := user.LookupGroupId(id.Group); err == nil {
		id.Group = g.Name
	}
	return id
}
