# jisr — build, test, demo. `make demo` and `make test` are the two commands
# the README promises; both work on a fresh machine of the go-svc kind.

GO          ?= go
BIN         := bin/jisr
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
FUZZTIME    ?= 10s
FUZZTIME_LONG ?= 60s
DEMO_DIR    ?= $(CURDIR)/.demo

.PHONY: all build test vet lint unit pkcs11 demo bench bench-micro fuzz fuzz-long fuzz-corpus clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/jisr

## test: vet, staticcheck, race-enabled unit and integration tests, PKCS#11 tests
test: vet lint unit pkcs11

vet:
	@unformatted=$$(gofmt -l $$(find . -name '*.go' -not -path './.demo/*')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	CGO_ENABLED=1 $(GO) vet -tags pkcs11 ./pki/keys/...

lint:
	$(GO) run $(STATICCHECK) ./...
	CGO_ENABLED=1 $(GO) run $(STATICCHECK) -tags pkcs11 ./pki/keys/...

unit:
	$(GO) test -race -count=1 -timeout 20m ./...

# PKCS#11 through crypto11 needs cgo and SoftHSM2 (installed by .ci/run).
pkcs11:
	CGO_ENABLED=1 $(GO) test -race -count=1 -tags pkcs11 ./pki/keys/...

## demo: bring up what exists on the embedded default (the instance PKI)
demo: build
	$(BIN) demo --dir $(DEMO_DIR)

## bench: end-to-end benchmark — direct calls, a bare mTLS proxy chain and
## jisr (SQLite, PostgreSQL) on loopback; writes the table into
## docs/performance.md. PostgreSQL from JISR_TEST_POSTGRES_DSN or
## postgres://postgres@127.0.0.1:5432/test?sslmode=disable.
bench: build
	$(BIN) bench --doc docs/performance.md --command "make bench"

## bench-micro: the Go micro-benchmarks of every package
bench-micro:
	$(GO) test -run '^$$' -bench . -benchmem ./...

## fuzz: every fuzz target of the module (found by `go test -list`) briefly;
## crashers land in the package's testdata/fuzz/ (commit them with the fix)
fuzz:
	@set -e; targets=$$($(GO) test -list '^Fuzz' ./... | awk '/^Fuzz/ { n[++c] = $$1 } /^ok/ { for (i = 1; i <= c; i++) print $$2 ":" n[i]; c = 0 }'); \
	test -n "$$targets"; \
	for t in $$targets; do \
		pkg=$${t%%:*}; name=$${t##*:}; \
		echo "fuzz $$pkg $$name ($(FUZZTIME))"; \
		$(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 200x $$pkg; \
	done

fuzz-long:
	$(MAKE) fuzz FUZZTIME=$(FUZZTIME_LONG)
	$(MAKE) fuzz-corpus

## fuzz-corpus: keep what fuzzing found interesting under each package's
## testdata/fuzz/ (go test then replays it as regression seeds)
fuzz-corpus:
	@cache=$$($(GO) env GOCACHE)/fuzz/$$($(GO) list -m); \
	test -d "$$cache" || exit 0; \
	for d in $$(cd "$$cache" && find . -mindepth 2 -type d -name 'Fuzz*'); do \
		dst=$${d%/*}/testdata/fuzz/$${d##*/}; mkdir -p "$$dst"; cp -n "$$cache/$$d"/* "$$dst"/; \
	done

clean:
	rm -rf bin $(DEMO_DIR)
