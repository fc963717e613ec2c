# The two commands of the README, and their helpers. Scripts under scripts/ do the work.
.PHONY: up down check test bench soak faults login-flood logs redrive admin images image-check deploy

up:      ## start the whole shop locally on http://localhost:8080
	@bash scripts/up.sh

down:    ## stop what make up started
	@bash scripts/down.sh

check:   ## the quick gate before a commit: fmt, clippy, the workspace's Rust tests (under 5 min warm)
	@bash scripts/check.sh

test:    ## make check, then every stack suite; ends with the time of each phase
	@bash scripts/test.sh

bench:   ## measure throughput and latency against this machine's ceilings
	@bash scripts/bench.sh

soak:    ## 10 minutes at half the order capacity with two replicas: do RSS, sockets, backlog and lag stay flat?
	@bash scripts/soak.sh

faults:  ## crash, restart and slow pieces of the running stack under load; check nothing is lost
	@bash scripts/faults.sh

login-flood: ## a genuine login's latency alone and while many addresses flood the login (abuse limits)
	@bash scripts/login-flood.sh

logs:    ## follow the services' logs
	@tail -F .local/log/*.log

redrive: ## list dead letters, or republish them: make redrive ARGS="--all" (monitoring/runbooks/dead-letters.md)
	@ARGS="$(ARGS)" bash scripts/redrive.sh

admin:   ## give a user the admin role (the page's admin section): make admin LOGIN=alice [REVOKE=1]; no LOGIN lists
	@if [ -z "$(LOGIN)" ]; then bash scripts/admin.sh list; \
	 else bash scripts/admin.sh $(if $(REVOKE),revoke,grant) "$(LOGIN)"; fi

images:  ## build the images (Docker, else podman): make images [REGISTRY=ghcr.io/acme] [TAG=..] [PUSH=1] [BINARIES=prebuilt]
	@REGISTRY="$(REGISTRY)" TAG="$(TAG)" PLATFORM="$(PLATFORM)" PUSH="$(PUSH)" BINARIES="$(BINARIES)" bash scripts/images.sh

image-check: ## build every image with podman, run each as its chart does, play the charts: make image-check [BINARIES=prebuilt]
	@BINARIES="$(BINARIES)" bash scripts/image-check.sh

deploy:  ## install into Kubernetes: make deploy REGISTRY=ghcr.io/acme HOST=shop.acme.org TLS_ISSUER=letsencrypt
	@bash scripts/k8s-install.sh --registry "$(REGISTRY)" --host "$(HOST)" \
	  $(if $(TLS_ISSUER),--tls-issuer "$(TLS_ISSUER)") $(if $(TLS_SECRET),--tls-secret "$(TLS_SECRET)") \
	  $(if $(NAMESPACE),--namespace "$(NAMESPACE)") $(DEPLOY_FLAGS)
