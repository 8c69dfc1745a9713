package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"

	"cairn/client"
)

// stringList is a repeatable flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

func keyCommand() *command {
	return &command{
		name: "key", minArgs: 1, maxArgs: 2,
		synopsis: "create [--role r] [--bucket b]... [--name n] | list | delete <id>",
		summary:  "manage the cluster's access keys (needs an admin key)",
		detail: `An access key works on every surface of every node: S3 signs with its id
and secret, MLflow sends them as MLFLOW_TRACKING_USERNAME and _PASSWORD,
and the native API and this CLI as the token id:secret (CAIRN_TOKEN). Its
role is read, write (read, and write and delete objects) or admin (write,
and backup, restore, GC, membership and keys); --bucket limits it to some
buckets. create prints the secret: the cluster never shows it again.`,
		example: `cairn key create --role write --bucket mlflow --name training
cairn key list
cairn key delete CKXXXXXXXXXXXXXXXXXX`,
		flags: func(fs *flag.FlagSet) action {
			role := fs.String("role", "read", "`role` of a new key: read, write or admin")
			name := fs.String("name", "", "a `name` to remember the key by")
			var buckets stringList
			fs.Var(&buckets, "bucket", "limit a new key to this `bucket` (repeatable)")
			return func(ctx context.Context, s *session, args []string) error {
				switch {
				case args[0] == "create" && len(args) == 1:
					k, err := s.c.Admin().CreateKey(ctx, client.KeyRequest{Role: *role, Buckets: buckets, Name: *name})
					if err != nil {
						return err
					}
					s.emit(k, func(w io.Writer) {
						fmt.Fprintf(w, "access key %s (%s%s)\nsecret     %s\ntoken      %s:%s\nThe secret is shown this once.\n",
							k.ID, k.Role, bucketsNote(k.Buckets), k.Secret, k.ID, k.Secret)
					})
					return nil
				case args[0] == "list" && len(args) == 1:
					keys, err := s.c.Admin().Keys(ctx)
					if err != nil {
						return err
					}
					s.emit(keys, func(w io.Writer) {
						tw := table(w)
						fmt.Fprintln(tw, "ID\tROLE\tBUCKETS\tNAME\tCREATED")
						for _, k := range keys {
							b := strings.Join(k.Buckets, ",")
							if b == "" {
								b = "*"
							}
							fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", k.ID, k.Role, b, k.Name, shortTime(k.Created))
						}
						tw.Flush()
					})
					return nil
				case args[0] == "delete" && len(args) == 2:
					if err := s.c.Admin().DeleteKey(ctx, args[1]); err != nil {
						return notFound("access key "+args[1], err)
					}
					s.emit(struct {
						Deleted string `json:"deleted"`
					}{args[1]}, func(w io.Writer) { fmt.Fprintf(w, "deleted access key %s\n", args[1]) })
					return nil
				}
				return usagef("key: want create, list or delete <id>")
			}
		},
	}
}

func bucketsNote(b []string) string {
	if len(b) == 0 {
		return ", every bucket"
	}
	return ", buckets " + strings.Join(b, ", ")
}
