// Command etcd is etcd's own server entry point, built from the module proxy
// because no release binary can be downloaded on the project's machines.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
