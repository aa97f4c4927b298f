// Command httpbin runs go-httpbin, the sample app of the walkthrough, for
// `make run` and local experiments.
package main

import (
	"flag"
	"log"
	"net/http"

	"github.com/mccutchen/go-httpbin/v2/httpbin"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8000", "listen address")
	flag.Parse()
	log.Printf("httpbin listening on %s", *addr)
	log.Fatal(http.ListenAndServe(*addr, httpbin.New()))
}
