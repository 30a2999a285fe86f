module github.com/agentgroups/agentgroup-operator/test/packaging

go 1.26.0

replace github.com/agentgroups/agentgroup-operator => ../..
