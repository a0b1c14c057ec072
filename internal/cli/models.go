package cli

import (
	"fmt"
	"sort"

	"github.com/spf13/cobra"

	"github.com/promote-ml/promote/internal/httpapi"
	"github.com/promote-ml/promote/promote"
)

func newModelsCmd(s *streams) *cobra.Command {
	cmd := &cobra.Command{Use: "models", Short: "List, create and show registered models"}
	f := addClientFlags(cmd)
	var description string
	create := &cobra.Command{
		Use: "create NAME", Short: "Register a model", Args: cobra.ExactArgs(1),
		Example: `  promote models create credit-risk --description "Loan default classifier"`,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			m, err := c.CreateModel(cmd.Context(), args[0], description)
			if err != nil {
				return clientError(err)
			}
			return f.render(s.out, m, func(tw *table) { fmt.Fprintf(tw, "Model %s registered by %s\n", m.Name, m.CreatedBy) })
		},
	}
	create.Flags().StringVar(&description, "description", "", "what the model does")
	create.ValidArgsFunction = cobra.NoFileCompletions
	var filter promote.ModelFilter
	list := &cobra.Command{
		Use: "list", Short: "List models, newest first", Args: cobra.NoArgs,
		Long: `List the registered models, newest (the last registered) first: at most --limit of them
(100 by default). SEQ is each model's cursor: --before SEQ lists the page older than
it (the SEQ of a page's last row gives the next page), --after SEQ the page just newer.`,
		Example: `  promote models list
  promote models list --limit 20 --before 310
  promote models list -o json | jq -r '.[].name'`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkPage(cmd, filter.Limit, filter.BeforeSeq, filter.AfterSeq); err != nil {
				return err
			}
			c, err := f.client()
			if err != nil {
				return err
			}
			models, err := c.Models(cmd.Context(), filter)
			if err != nil {
				return clientError(err)
			}
			return f.render(s.out, models, func(tw *table) {
				row(tw, "SEQ", "MODEL", "DESCRIPTION", "CREATED BY", "CREATED")
				for _, m := range models {
					row(tw, fmt.Sprint(m.Seq), m.Name, m.Description, m.CreatedBy, when(m.CreatedAt))
				}
			})
		},
	}
	addPageFlags(list, "models", "SEQ", &filter.BeforeSeq, &filter.AfterSeq, &filter.Limit)
	show := &cobra.Command{
		Use: "show NAME", Short: "Show a model and where it stands", Args: cobra.ExactArgs(1),
		Example: `  promote models show credit-risk`,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			d, err := c.Model(cmd.Context(), args[0])
			if err != nil {
				return clientError(err)
			}
			return f.render(s.out, d, func(tw *table) {
				fmt.Fprintf(tw, "Model %s: %s\n\n", d.Model.Name, d.Model.Description)
				statusTable(tw, d)
			})
		},
	}
	show.ValidArgsFunction = f.completeArgs(modelNames)
	cmd.AddCommand(list, create, show)
	return cmd
}

// statusTable writes the live version per environment, why the commit of
// a live change fails, active promotions and holds.
func statusTable(tw *table, d httpapi.ModelDetail) {
	st := d.Status
	row(tw, "ENVIRONMENT", "LIVE", "SINCE", "BY", "PROMOTION")
	for _, env := range st.Environments {
		l, ok := st.Live[env]
		if !ok {
			row(tw, env, "", "", "", "")
			continue
		}
		row(tw, env, l.Version, when(l.SetAt), l.SetBy, l.PromotionID)
	}
	// A change whose GitOps commit keeps failing says why: nothing else
	// tells a person that it is not deployed.
	header := false
	for _, env := range st.Environments {
		l, ok := st.Live[env]
		if !ok || l.CommitError == nil {
			continue
		}
		if !header {
			fmt.Fprintln(tw)
			row(tw, "COMMIT FAILING", "VERSION", "SINCE", "ERROR")
			header = true
		}
		row(tw, env, l.Version, when(l.CommitError.Since), l.CommitError.Message)
	}
	if len(st.Promotions) > 0 {
		fmt.Fprintln(tw)
		row(tw, "ACTIVE PROMOTION", "VERSION", "TO", "STATE", "REQUESTED BY")
		for _, p := range st.Promotions {
			row(tw, p.ID, p.Version, p.Environment, string(p.State), p.RequestedBy)
		}
	}
	if len(st.Holds) > 0 {
		fmt.Fprintln(tw)
		row(tw, "HOLD", "VERSION", "ENVIRONMENT", "SET BY", "REASON")
		holds := st.Holds
		sort.Slice(holds, func(i, j int) bool { return holds[i].ID < holds[j].ID })
		for _, h := range holds {
			row(tw, fmt.Sprint(h.ID), h.Version, h.Environment, h.SetBy, h.Reason)
		}
	}
}

func newStatusCmd(s *streams) *cobra.Command {
	cmd := &cobra.Command{
		Use: "status MODEL", Short: "Show a model's live version in every environment, its active promotions and holds",
		Example: `  promote status credit-risk
  promote status credit-risk -o json | jq -r .live.prod.version`,
		Args: cobra.ExactArgs(1),
	}
	f := addClientFlags(cmd)
	cmd.ValidArgsFunction = f.completeArgs(modelNames)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		c, err := f.client()
		if err != nil {
			return err
		}
		st, err := c.Status(cmd.Context(), args[0])
		if err != nil {
			return clientError(err)
		}
		return f.render(s.out, st, func(tw *table) { statusTable(tw, httpapi.ModelDetail{Status: st}) })
	}
	return cmd
}

func newHistoryCmd(s *streams) *cobra.Command {
	var filter promote.LiveFilter
	cmd := &cobra.Command{
		Use: "history MODEL --env ENV", Short: "Show the changes of a model's live version in an environment",
		Long: `Show the changes of a model's live version in an environment, newest first: at most
--limit of them (100 by default). SEQ is each change's cursor: --before SEQ lists the page
older than it (the SEQ of a page's last row gives the next page), --after SEQ the page just
newer.`,
		Example: `  promote history credit-risk --env prod
  promote history credit-risk --env prod --limit 20 --before 5120`,
		Args: cobra.ExactArgs(1),
	}
	f := addClientFlags(cmd)
	cmd.Flags().StringVar(&filter.Environment, "env", "", "environment")
	_ = cmd.MarkFlagRequired("env")
	addPageFlags(cmd, "changes", "SEQ", &filter.BeforeSeq, &filter.AfterSeq, &filter.Limit)
	cmd.ValidArgsFunction = f.completeArgs(modelNames)
	_ = cmd.RegisterFlagCompletionFunc("env", f.completeFlag(environmentNames))
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if err := checkPage(cmd, filter.Limit, filter.BeforeSeq, filter.AfterSeq); err != nil {
			return err
		}
		c, err := f.client()
		if err != nil {
			return err
		}
		filter.Model = args[0]
		h, err := c.History(cmd.Context(), filter)
		if err != nil {
			return clientError(err)
		}
		return f.render(s.out, h, func(tw *table) {
			row(tw, "SEQ", "WHEN", "VERSION", "BY", "PROMOTION", "REASON")
			for _, l := range h {
				row(tw, fmt.Sprint(l.Seq), when(l.SetAt), l.Version, l.SetBy, l.PromotionID, l.Reason)
			}
		})
	}
	return cmd
}
