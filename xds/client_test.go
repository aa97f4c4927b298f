package xds_test

import (
	"context"
	"slices"
	"testing"
	"time"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/grpc"
)

// adsStream is the client end of an ADS stream: state of the world
// (DiscoveryRequest and DiscoveryResponse) or delta (their Delta forms).
type adsStream[Req, Resp any] interface {
	Send(Req) error
	Recv() (Resp, error)
}

// opener opens an ADS stream: a client's StreamAggregatedResources or
// DeltaAggregatedResources.
type opener[S any] func(context.Context, ...grpc.CallOption) (S, error)

// adsClient is a test's end of an ADS stream, open until the test ends or
// close is called.
type adsClient[Req, Resp any] struct {
	t  *testing.T
	st adsStream[Req, Resp]
	// recv returns the next message, or false if none comes within the
	// duration.
	recv  func(time.Duration) (Resp, bool)
	close context.CancelFunc
}

func openADS[Req, Resp any, S adsStream[Req, Resp]](t *testing.T, open opener[S]) *adsClient[Req, Resp] {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	st, err := open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return &adsClient[Req, Resp]{t: t, st: st, recv: receiver(t, st.Recv), close: cancel}
}

func (c *adsClient[Req, Resp]) send(req Req) {
	c.t.Helper()
	if err := c.st.Send(req); err != nil {
		c.t.Fatal(err)
	}
}

type sotwClient = adsClient[*discoveryv3.DiscoveryRequest, *discoveryv3.DiscoveryResponse]

func newSotWClient(t *testing.T, client discoveryv3.AggregatedDiscoveryServiceClient) *sotwClient {
	t.Helper()
	return openADS(t, client.StreamAggregatedResources)
}

type deltaClient struct {
	*adsClient[*discoveryv3.DeltaDiscoveryRequest, *discoveryv3.DeltaDiscoveryResponse]
}

func newDeltaClient(t *testing.T, client discoveryv3.AggregatedDiscoveryServiceClient) *deltaClient {
	t.Helper()
	return &deltaClient{openADS(t, client.DeltaAggregatedResources)}
}

// expect receives a response of typeURL and ACKs it; it returns the names
// sent and removed.
func (c *deltaClient) expect(typeURL string) (sent, removed []string, versions map[string]string) {
	c.t.Helper()
	resp, ok := c.recv(5 * time.Second)
	if !ok {
		c.t.Fatalf("no %s response", typeURL)
	}
	if resp.TypeUrl != typeURL {
		c.t.Fatalf("got a %s response, want %s", resp.TypeUrl, typeURL)
	}
	versions = map[string]string{}
	for _, r := range resp.Resources {
		sent = append(sent, r.Name)
		versions[r.Name] = r.Version
	}
	slices.Sort(sent)
	removed = slices.Sorted(slices.Values(resp.RemovedResources))
	c.send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: typeURL, ResponseNonce: resp.Nonce})
	return sent, removed, versions
}

func (c *deltaClient) quiet() {
	c.t.Helper()
	if resp, ok := c.recv(500 * time.Millisecond); ok {
		c.t.Fatalf("unexpected %s response: %d resources, %d removed", resp.TypeUrl, len(resp.Resources), len(resp.RemovedResources))
	}
}

// receiver pumps a stream's messages into a channel, so that waiting for a
// message that should not come does not swallow the next one.
func receiver[T any](t *testing.T, recv func() (T, error)) func(time.Duration) (T, bool) {
	ch := make(chan T, 16)
	go func() {
		for {
			v, err := recv()
			if err != nil {
				close(ch)
				return
			}
			ch <- v
		}
	}()
	return func(d time.Duration) (T, bool) {
		t.Helper()
		select {
		case v, ok := <-ch:
			if !ok {
				t.Fatal("the stream ended")
			}
			return v, true
		case <-time.After(d):
			var zero T
			return zero, false
		}
	}
}

// firstReply opens a stream, sends req on it and returns the first
// response, or the error that ended the stream.
func firstReply[Req, Resp any, S adsStream[Req, Resp]](ctx context.Context, open opener[S], req Req) (Resp, error) {
	var none Resp
	st, err := open(ctx)
	if err != nil {
		return none, err
	}
	if err := st.Send(req); err != nil {
		return none, err
	}
	return st.Recv()
}

// streamEnd sends reqs on a new stream and returns the error that ends it
// (nil if it is still open wait after they were sent).
func streamEnd[Req, Resp any, S adsStream[Req, Resp]](t *testing.T, open opener[S], wait time.Duration, reqs ...Req) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second+wait)
	defer cancel()
	st, err := open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range reqs {
		if err := st.Send(r); err != nil {
			break // the server ended the stream: Recv says why
		}
	}
	errc := make(chan error, 1)
	go func() {
		for {
			if _, err := st.Recv(); err != nil {
				errc <- err
				return
			}
		}
	}()
	select {
	case err := <-errc:
		return err
	case <-time.After(wait):
		return nil
	}
}
