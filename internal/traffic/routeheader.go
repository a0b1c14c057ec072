package traffic

import (
	"fmt"
	"net/http"

	"golang.org/x/net/http/httpguts"
)

// unroutableHeaders are the header names that a request cannot carry to
// the splitter as a value of its own, so that a Sticky.Header or
// CandidateHeader of that name would never be seen, or be seen set by a
// proxy or the client's HTTP library rather than by the client: why, by
// canonical name. The hop-by-hop names are the ones the fast path drops.
var unroutableHeaders = func() map[string]string {
	const (
		kept   = "the server takes it out of a request's headers"
		hop    = "it is a hop-by-hop header, which a proxy in front drops or rewrites (RFC 9110, section 7.6.1)"
		framed = "it frames the request's body, and is set by the client's HTTP library, not by a person"
	)
	m := make(map[string]string, len(hopByHop)+2)
	for h := range hopByHop {
		m[h] = hop
	}
	m["Host"], m["Transfer-Encoding"], m["Content-Length"] = kept, kept, framed
	return m
}()

// CheckRouteHeader reports whether name can route a request, as a sticky
// header or a candidate header: it must be a header name, and one that a
// request carries to the splitter as its client set it. The error quotes
// name and says why; the caller prefixes what the name is for.
func CheckRouteHeader(name string) error {
	if !httpguts.ValidHeaderFieldName(name) {
		return fmt.Errorf("%q is not a header name", name)
	}
	if why := unroutableHeaders[http.CanonicalHeaderKey(name)]; why != "" {
		return fmt.Errorf("%q cannot be used: %s", name, why)
	}
	return nil
}
