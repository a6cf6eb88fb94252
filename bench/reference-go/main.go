// Command rtft-relay-go: the second reference server of rtftd's benchmark,
// a careful Go relay speaking the part of RTFT protocol v1 that bench/run
// uses (SET_USERNAME, GET_USERS, PING, the relayed types, CAPABILITIES and
// the binary relay extension). It stands for "what a good engineer writes
// in an afternoon with gorilla/websocket": a goroutine pair and a queue per
// connection, writes gathered until the queue is empty, one map of names
// under a RWMutex, relayed messages forwarded as the sender's bytes.
//
// Usage: rtft-relay-go [-validate] [-parse scan|json] [-max-message N] [-cpuprofile F] PORT
// (or PORT in the environment). Listens on 127.0.0.1:PORT, prints
// "listening PORT" once it does, stops on SIGTERM or SIGINT.
package main

import (
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"

	"github.com/gorilla/websocket"
)

func main() {
	validate := flag.Bool("validate", false, "check every byte of a relayed message against the JSON grammar")
	parse := flag.String("parse", "scan", "how to read relayed messages: scan (the light scanner) or json (encoding/json)")
	maxMessage := flag.Int("max-message", 2<<20, "largest message accepted, bytes (rtftd's default)")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile (go tool pprof) here until SIGTERM")
	flag.Parse()
	port := flag.Arg(0)
	if port == "" {
		port = os.Getenv("PORT")
	}
	if port == "" {
		port = "8080"
	}
	if *parse != "scan" && *parse != "json" {
		fmt.Fprintln(os.Stderr, "rtft-relay-go: -parse must be scan or json")
		os.Exit(2)
	}
	srv := &server{users: map[string]*client{}, maxMessage: *maxMessage, validate: *validate,
		useJSON: *parse == "json"}
	up := websocket.Upgrader{
		ReadBufferSize:  64 << 10,
		WriteBufferSize: 16 << 10,
		// the clients are a browser extension and pages of any origin
		CheckOrigin: func(*http.Request) bool { return true },
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return // Upgrade has answered
		}
		bc := ws.UnderlyingConn().(*bufConn)
		bc.startBuffering(64 << 10)
		srv.serve(ws, bc)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:"+port)
	if err != nil {
		fmt.Fprintln(os.Stderr, "rtft-relay-go:", err)
		os.Exit(1)
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "rtft-relay-go:", err)
			os.Exit(1)
		}
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-sig
		pprof.StopCPUProfile()
		os.Exit(0)
	}()
	fmt.Printf("listening %d\n", ln.Addr().(*net.TCPAddr).Port)
	hs := &http.Server{Handler: mux}
	if err := hs.Serve(listener{ln}); err != nil {
		fmt.Fprintln(os.Stderr, "rtft-relay-go:", err)
		os.Exit(1)
	}
}
