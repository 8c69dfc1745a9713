package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"

	"cairn/client"
)

func bucketsCommand() *command {
	return &command{
		name: "buckets", maxArgs: 0,
		summary: "list the buckets",
		example: `cairn buckets --json`,
		flags: func(fs *flag.FlagSet) action {
			return func(ctx context.Context, s *session, args []string) error { return s.buckets(ctx) }
		},
	}
}

func (s *session) buckets(ctx context.Context) error {
	bs, err := s.c.Buckets(ctx)
	if err != nil {
		return err
	}
	s.emit(bs, func(w io.Writer) {
		tw := table(w)
		for _, b := range bs {
			fmt.Fprintf(tw, "%s\t%d objects\t%s\tcreated %s\n", b.Name, b.Objects, humanBytes(b.Bytes), shortTime(b.Created))
		}
		tw.Flush()
	})
	return nil
}

func mbCommand() *command {
	return &command{
		name: "mb", minArgs: 1, maxArgs: 1,
		synopsis: "<bucket>",
		summary:  "make a bucket",
		example:  `cairn mb mlflow`,
		flags: func(fs *flag.FlagSet) action {
			p := fs.Bool("p", false, "succeed if the bucket exists")
			return func(ctx context.Context, s *session, args []string) error {
				b, err := s.c.CreateBucket(ctx, args[0], client.BucketOptions{IfNotExists: *p})
				if err != nil {
					return err
				}
				s.emit(b, func(w io.Writer) { fmt.Fprintf(w, "bucket %s\n", b.Name) })
				return nil
			}
		},
	}
}

func rbCommand() *command {
	return &command{
		name: "rb", minArgs: 1, maxArgs: 1,
		synopsis: "<bucket>",
		summary:  "remove an empty bucket",
		example:  `cairn rb scratch`,
		flags: func(fs *flag.FlagSet) action {
			return func(ctx context.Context, s *session, args []string) error {
				if err := s.c.DeleteBucket(ctx, args[0]); err != nil {
					return notFound("bucket "+args[0], err)
				}
				s.emit(struct {
					Deleted string `json:"deleted"`
				}{args[0]}, func(w io.Writer) { fmt.Fprintf(w, "removed bucket %s\n", args[0]) })
				return nil
			}
		},
	}
}

func clusterCommand() *command {
	return &command{
		name: "cluster", minArgs: 1, maxArgs: 3,
		synopsis: "status | add <id> <cluster_addr> | remove <id>",
		summary:  "show the cluster's nodes, or add or remove one",
		detail: `status lists every member with its role, Raft term, applied index, lag and
missing chunks. add and remove change the membership through the leader and
need an admin key. A new node usually joins by itself (cairn serve --join).`,
		example: `cairn cluster status
cairn cluster add node4 10.0.0.4:8701
cairn cluster remove node4`,
		flags: func(fs *flag.FlagSet) action {
			nonvoter := fs.Bool("nonvoter", false, "add the node as a non-voting member")
			return func(ctx context.Context, s *session, args []string) error {
				switch {
				case args[0] == "status" && len(args) == 1:
					return s.clusterStatus(ctx)
				case args[0] == "add" && len(args) == 3:
					req := client.JoinRequest{ID: args[1], RaftAddr: args[2], Voter: !*nonvoter}
					if err := s.c.Admin().AddNode(ctx, req); err != nil {
						return err
					}
					s.emit(req, func(w io.Writer) { fmt.Fprintf(w, "added %s at %s\n", req.ID, req.RaftAddr) })
					return nil
				case args[0] == "remove" && len(args) == 2:
					if err := s.c.Admin().RemoveNode(ctx, args[1]); err != nil {
						return err
					}
					s.emit(client.JoinRequest{ID: args[1]}, func(w io.Writer) { fmt.Fprintf(w, "removed %s\n", args[1]) })
					return nil
				}
				return usagef("cluster: want status, add <id> <cluster_addr> or remove <id>")
			}
		},
	}
}

func (s *session) clusterStatus(ctx context.Context) error {
	st, err := s.c.Admin().ClusterStatus(ctx)
	if err != nil {
		return err
	}
	s.emit(st, func(w io.Writer) {
		tw := table(w)
		fmt.Fprintln(tw, "ID\tROLE\tSUFFRAGE\tRAFT\tTERM\tAPPLIED\tLAG\tMISSING\tERROR")
		for _, n := range st.Nodes {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%d\t%s\t%s\n", n.ID, n.Role, n.Suffrage, n.RaftAddr, n.Term, n.Applied, n.Lag, humanBytes(n.MissingBytes), n.Error)
		}
		tw.Flush()
		if len(st.Features) > 0 {
			fmt.Fprintf(w, "features on: %s\n", strings.Join(st.Features, ", "))
		}
	})
	return nil
}

func versionCommand() *command {
	return &command{
		name: "version", maxArgs: 0,
		summary: "print the version",
		example: `cairn version`,
		flags: func(fs *flag.FlagSet) action {
			return func(ctx context.Context, s *session, args []string) error {
				s.emit(struct {
					Version string `json:"version"`
				}{s.env.Version}, func(w io.Writer) { fmt.Fprintln(w, "cairn", s.env.Version) })
				return nil
			}
		},
	}
}
