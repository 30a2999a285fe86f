-- Argo CD health of an AgentGroup (deepcall.agentgroups.dev, agentgroup-operator).
-- The status is in kstatus form (docs/reference.md): Ready is always there,
-- Reconciling and Stalled only while True, all three carrying the Ready
-- reason and message and the generation they describe. The verdict is
-- kstatus's: Current is Healthy (Suspended for the reason Suspended),
-- InProgress is Progressing, Failed (Stalled) is Degraded.
-- Argo CD runs scripts from argocd-cm without Lua's string, math and os
-- libraries, so this one uses base and table functions only.
local function condition(type)
  if obj.status == nil or obj.status.conditions == nil then
    return nil
  end
  for _, c in ipairs(obj.status.conditions) do
    if c.type == type then
      return c
    end
  end
  return nil
end

local function told(c)
  if c.message == nil or c.message == "" then
    return c.reason
  end
  return c.reason .. ": " .. c.message
end

local generation = obj.metadata.generation or 0
local ready = condition("Ready")
if ready == nil then
  return {status = "Progressing", message = "Waiting for the operator to report a status"}
end
-- A spec the operator has not finished looking at: a pass on it that had
-- to stop (waiting for its turn, for the Account) says why in Ready.
if (obj.status.observedGeneration or -1) < generation or (ready.observedGeneration or -1) < generation then
  if ready.observedGeneration == generation and ready.status ~= "True" then
    return {status = "Progressing", message = told(ready)}
  end
  return {status = "Progressing", message = "Waiting for the operator to look at generation " .. generation}
end
local stalled = condition("Stalled")
if stalled ~= nil and stalled.status == "True" then
  return {status = "Degraded", message = told(stalled)}
end
if ready.status ~= "True" then
  return {status = "Progressing", message = told(ready)}
end
if ready.reason == "Suspended" then
  return {status = "Suspended", message = told(ready)}
end
return {status = "Healthy", message = told(ready)}
