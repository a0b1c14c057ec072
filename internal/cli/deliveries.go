package cli

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/promote-ml/promote/internal/notify"
)

// newWebhooksCmd is `promote webhooks`: the delivery log, and the re-send
// of a delivery that failed for good (docs/webhooks.md).
func newWebhooksCmd(s *streams) *cobra.Command {
	cmd := &cobra.Command{Use: "webhooks", Aliases: []string{"webhook"}, Short: "List webhook deliveries and re-send failed ones"}
	f := addClientFlags(cmd)
	var filter notify.DeliveryFilter
	list := &cobra.Command{
		Use: "deliveries", Short: "List webhook delivery attempts, newest first", Args: cobra.NoArgs,
		Example: `  promote webhooks deliveries --status failed
  promote webhooks deliveries --endpoint ops --limit 20`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if filter.Status != "" && !slices.Contains(notify.Statuses(), filter.Status) {
				return usageErrorf("--status %q: want one of %s", filter.Status, strings.Join(notify.Statuses(), ", "))
			}
			if err := checkLimit(cmd, filter.Limit); err != nil {
				return err
			}
			c, err := f.client()
			if err != nil {
				return err
			}
			ds, err := c.ListDeliveries(cmd.Context(), filter)
			if err != nil {
				return clientError(err)
			}
			return f.render(s.out, ds, func(tw *table) {
				row(tw, "ID", "ENDPOINT", "EVENT", "TYPE", "ATTEMPT", "STATUS", "CODE", "AT", "ERROR")
				for _, d := range ds {
					code := ""
					if d.Code != 0 {
						code = strconv.Itoa(d.Code)
					}
					row(tw, d.ID, d.Endpoint, d.EventID, d.EventType, strconv.Itoa(d.Attempt), d.Status, code, when(d.At), d.Error)
				}
			})
		},
	}
	list.Flags().StringVar(&filter.Status, "status", "", "only attempts of this status: "+strings.Join(notify.Statuses(), ", "))
	list.Flags().StringVar(&filter.Endpoint, "endpoint", "", "only attempts to the endpoint of this name")
	addLimitFlag(list, &filter.Limit)
	_ = list.RegisterFlagCompletionFunc("status", fixedValues(notify.Statuses()))
	_ = list.RegisterFlagCompletionFunc("endpoint", f.completeFlag(endpointNames))
	resend := &cobra.Command{
		Use: "resend ID", Short: "Send a delivery that failed for good again (admin role)", Args: cobra.ExactArgs(1),
		Example: `  promote webhooks deliveries --status failed
  promote webhooks resend dlv_2e4965f63ad999f68c66ced17b0e3c57`,
		ValidArgsFunction: f.completeArgs(failedDeliveryIDs),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			d, err := c.ResendDelivery(cmd.Context(), args[0])
			if err != nil {
				return clientError(err)
			}
			return f.render(s.out, d, func(tw *table) {
				fmt.Fprintf(tw, "Delivery %s of event %s (%s) to %s will be sent again, with the same event ID\n", d.ID, d.EventID, d.EventType, d.Endpoint)
			})
		},
	}
	cmd.AddCommand(list, resend)
	return cmd
}
