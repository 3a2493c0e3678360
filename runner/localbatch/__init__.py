"""The local Batch service: the Azure Batch data-plane REST API on loopback, with local nodes.

What Azurite is for Storage, this is for Batch: the unmodified azure-batch SDK talks
to it as to Azure (same paths, JSON shapes, error bodies, Shared Key auth), and tasks
run as local processes on "compute nodes" with Batch's directory layout and
`AZ_BATCH_*` environment. State lives in SQLite under the service's home directory and
survives a restart. bwf's client code never imports this package: they meet over HTTP.

Modules: `auth` (Shared Key, request dates), `errors` (Batch error bodies), `store`
(state and its persistence), `odata` ($filter/$select), `blobs` (resource files and
output files over the Blob REST API), `nodes` (node directories and processes),
`nursery` and `spawner` (every process under a supervisor that ends its whole tree),
`scheduler` (pools, nodes, dispatch, lifecycle), `api` (the REST handlers), `shapes`
(the request bodies they accept), `files` (task and node files), `server` (HTTP),
`wire`, `connections` and `limits` (what one client may take from it), `faults` and
`harsh` (switches for tests: injected faults, and Azure's slower, harsher behaviour),
`autoscale` (the autoscale formula language), `__main__`
(`python -m runner.localbatch serve`).
"""
