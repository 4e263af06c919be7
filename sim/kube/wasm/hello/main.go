// Command hello is the WebAssembly guest behind the simulated Spin hello
// app. It speaks WAGI (CGI over WASI): the request arrives as environment
// variables and stdin, the response leaves on stdout as CGI headers, a blank
// line and the body. It mirrors SpinKube's spin-rust-hello, which routes only
// /hello.
package main

import "os"

func main() {
	if os.Getenv("PATH_INFO") != "/hello" {
		respond("404 Not Found", "")

		return
	}

	if m := os.Getenv("REQUEST_METHOD"); m != "GET" && m != "HEAD" {
		respond("405 Method Not Allowed", "")

		return
	}

	respond("200 OK", "Hello world from Spin!")
}

func respond(status, body string) {
	_, _ = os.Stdout.WriteString("Status: " + status + "\nContent-Type: text/plain\n\n" + body)
}
