package cli

import (
	"fmt"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/promote-ml/promote/internal/httpapi"
	"github.com/promote-ml/promote/promote"
)

// clientCall carries a command (for its context) and the client.
type clientCall struct {
	cmd *cobra.Command
	*httpapi.Client
}

func newHoldsCmd(s *streams) *cobra.Command {
	cmd := &cobra.Command{Use: "holds", Aliases: []string{"hold"}, Short: "List, set and clear holds"}
	f := addClientFlags(cmd)
	var filter promote.HoldFilter
	list := &cobra.Command{
		Use: "list", Short: "List active holds (--all for cleared ones too)", Args: cobra.NoArgs,
		Long: `List the holds that match the filters, newest (the last set) first: at most --limit of
them (100 by default). A hold's ID is its cursor: --before ID lists the page older than it
(the ID of a page's last row gives the next page), --after ID the page just newer.`,
		Example: `  promote holds list --model credit-risk
  promote holds list --all --env prod
  promote holds list --all --limit 20 --before 118`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkPage(cmd, filter.Limit, filter.BeforeSeq, filter.AfterSeq); err != nil {
				return err
			}
			c, err := f.client()
			if err != nil {
				return err
			}
			hs, err := c.Holds(cmd.Context(), filter)
			if err != nil {
				return clientError(err)
			}
			return f.render(s.out, hs, func(tw *table) {
				row(tw, "ID", "MODEL", "VERSION", "ENVIRONMENT", "SET BY", "SET", "REASON", "CLEARED BY")
				for _, h := range hs {
					row(tw, fmt.Sprint(h.ID), h.Model, h.Version, h.Environment, h.SetBy, when(h.SetAt), h.Reason, h.ClearedBy)
				}
			})
		},
	}
	list.Flags().StringVar(&filter.Model, "model", "", "only this model")
	list.Flags().StringVar(&filter.Environment, "env", "", "only this environment")
	list.Flags().BoolVar(&filter.IncludeCleared, "all", false, "include cleared holds")
	addPageFlags(list, "holds", "ID", &filter.BeforeSeq, &filter.AfterSeq, &filter.Limit)
	_ = list.RegisterFlagCompletionFunc("model", f.completeFlag(modelNames))
	_ = list.RegisterFlagCompletionFunc("env", f.completeFlag(environmentNames))
	var env, reason string
	set := &cobra.Command{
		Use: "set MODEL VERSION --env ENV --reason TEXT", Short: "Put a version on hold in an environment", Args: cobra.ExactArgs(2),
		Example: `  promote holds set credit-risk 2 --env prod --reason "pending a fairness review"`,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			h, err := c.SetHold(cmd.Context(), args[0], args[1], env, reason)
			if err != nil {
				return clientError(err)
			}
			return f.render(s.out, h, func(tw *table) {
				fmt.Fprintf(tw, "Hold %d: %s %s may not enter %s until a person clears it\n", h.ID, h.Model, h.Version, h.Environment)
			})
		},
	}
	set.Flags().StringVar(&env, "env", "", "environment")
	set.Flags().StringVar(&reason, "reason", "", "why")
	_ = set.MarkFlagRequired("env")
	_ = set.MarkFlagRequired("reason")
	set.ValidArgsFunction = f.completeArgs(modelNames, versionsOfArg)
	_ = set.RegisterFlagCompletionFunc("env", f.completeFlag(environmentNames))
	var clearReason string
	clear := &cobra.Command{
		Use: "clear ID --reason TEXT", Short: "Clear a hold (a person, with a reason)", Args: cobra.ExactArgs(1),
		Example: `  promote holds list --model credit-risk
  promote holds clear 3 --reason "fairness review passed"`,
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil {
				return usageErrorf("hold ID %q is not a number", args[0])
			}
			c, err := f.client()
			if err != nil {
				return err
			}
			h, err := c.ClearHold(cmd.Context(), id, clearReason)
			if err != nil {
				return clientError(err)
			}
			return f.render(s.out, h, func(tw *table) {
				fmt.Fprintf(tw, "Hold %d cleared by %s: %s\n", h.ID, h.ClearedBy, h.ClearReason)
			})
		},
	}
	clear.Flags().StringVar(&clearReason, "reason", "", "why it may go ahead now")
	_ = clear.MarkFlagRequired("reason")
	clear.ValidArgsFunction = f.completeArgs(holdIDs)
	cmd.AddCommand(list, set, clear)
	return cmd
}
