module github.com/ipfs/go-log

go 1.21
