package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/promote-ml/promote/internal/pipeline"
	"github.com/promote-ml/promote/internal/registry"
	"github.com/promote-ml/promote/promote"
)

func newTokenCmd(s *streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Create, list and revoke API tokens",
	}
	cmd.AddCommand(newTokenCreateCmd(s), newTokenListCmd(s), newTokenRevokeCmd(s))
	return cmd
}

// localAdmin is the principal of a person running a local command against
// the store directly: whoever can open the data directory administers it.
var localAdmin = promote.Principal{Name: registry.LocalAdminActor, Role: promote.RoleAdmin}

func newTokenCreateCmd(s *streams) *cobra.Command {
	cfg := defaultServerConfig()
	var req registry.TokenRequest
	var role string
	cmd := &cobra.Command{
		Use:   "create --name NAME --role ROLE",
		Short: "Create a token (locally, against the store) and print its secret once",
		Long: `Create an API token directly in the store: the way to make the first admin token.
The secret is printed once; only its hash is stored. The token's name is the actor
recorded on every audit event made with it.

Roles: viewer (read), submitter (register versions, request promotions), approver
(approve, reject, holds), admin (everything). --groups adds policy approval roles
such as ml-lead.`,
		Example: `  promote token create --name ada --role admin
  promote token create --name lena --role approver --groups ml-lead
  export PROMOTE_TOKEN=$(promote token create --name ci --role submitter --quiet)`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			req.Role = promote.Role(role)
			// A token is made on the store alone: the pipeline file, which
			// may not exist yet where the first admin token is made, is
			// not read.
			if err := cfg.validate(); err != nil {
				return usageError(err)
			}
			store, err := openLocalStore(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			defer store.Close()
			svc, err := registry.New(store, registry.Config{Pipeline: &pipeline.Pipeline{}})
			if err != nil {
				return err
			}
			secret, tok, err := svc.CreateToken(cmd.Context(), localAdmin, req)
			if err != nil {
				return serviceError(err)
			}
			if quiet, _ := cmd.Flags().GetBool("quiet"); quiet {
				fmt.Fprintln(s.out, secret)
				return nil
			}
			fmt.Fprintf(s.out, "Token %s for %s (%s", tok.ID, tok.Name, tok.Role)
			if len(tok.Groups) > 0 {
				fmt.Fprintf(s.out, "; groups %s", strings.Join(tok.Groups, ", "))
			}
			fmt.Fprintf(s.out, "):\n\n  %s\n\nIt is shown this once. Use it as PROMOTE_TOKEN or --token.\n", secret)
			return nil
		},
	}
	cfg.env(getenv)
	cfg.storeFlags(cmd.Flags())
	// --pipeline is accepted, as before, and ignored.
	_ = cmd.Flags().MarkHidden("pipeline")
	cmd.Flags().StringVar(&req.Name, "name", "", "who the token identifies (the audit actor)")
	cmd.Flags().StringVar(&role, "role", "", "viewer, submitter, approver or admin")
	cmd.Flags().StringSliceVar(&req.Groups, "groups", nil, "policy approval roles the holder has, e.g. ml-lead")
	cmd.Flags().Bool("quiet", false, "print only the secret")
	_ = cmd.MarkFlagRequired("name")
	_ = cmd.MarkFlagRequired("role")
	_ = cmd.RegisterFlagCompletionFunc("role", cobra.FixedCompletions([]string{"viewer", "submitter", "approver", "admin"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

func newTokenListCmd(s *streams) *cobra.Command {
	cmd := &cobra.Command{Use: "list", Short: "List tokens (admin; never their secrets)", Args: cobra.NoArgs,
		Example: `  promote token list`}
	f := addClientFlags(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		c, err := f.client()
		if err != nil {
			return err
		}
		ts, err := c.Tokens(cmd.Context())
		if err != nil {
			return clientError(err)
		}
		return f.render(s.out, ts, func(tw *table) {
			row(tw, "ID", "NAME", "ROLE", "GROUPS", "CREATED BY", "CREATED", "REVOKED")
			for _, t := range ts {
				revoked := ""
				if t.RevokedAt != nil {
					revoked = when(*t.RevokedAt)
				}
				name := t.Name
				if _, reserved := registry.ReservedName(t.Name); reserved && t.RevokedAt == nil {
					// Made before the name was reserved: it works, and its
					// actions read as Promote's own (serve warns too).
					name += " (reserved name: revoke it)"
				}
				row(tw, t.ID, name, string(t.Role), strings.Join(t.Groups, ","), t.CreatedBy, when(t.CreatedAt), revoked)
			}
		})
	}
	return cmd
}

func newTokenRevokeCmd(s *streams) *cobra.Command {
	cmd := &cobra.Command{Use: "revoke ID", Short: "Revoke a token (admin)", Args: cobra.ExactArgs(1),
		Example: `  promote token list
  promote token revoke tok_3f9c2a71d04b8e65`}
	f := addClientFlags(cmd)
	cmd.ValidArgsFunction = f.completeArgs(tokenIDs(false))
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		c, err := f.client()
		if err != nil {
			return err
		}
		if err := c.RevokeToken(cmd.Context(), args[0]); err != nil {
			return clientError(err)
		}
		fmt.Fprintf(s.out, "Token %s revoked\n", args[0])
		return nil
	}
	return cmd
}
