-- Argo CD health of a SecretSync (secret-sync.x-k8s.io/v1alpha1), from the conditions SSE-rs writes:
--   Healthy      Ready is True for the current generation: the Secret holds the vault's values;
--   Degraded     Ready is False (the reason and message say why; the Secret keeps its last good value);
--   Progressing  not checked yet, or the manager has not caught up with the latest spec.
local hs = {}
local status = obj.status
if status == nil or status.conditions == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the first sync"
  return hs
end
local generation = obj.metadata.generation
if generation ~= nil and status.observedGeneration ~= nil and status.observedGeneration < generation then
  hs.status = "Progressing"
  hs.message = "Waiting for the manager to sync generation " .. generation
  return hs
end
for _, condition in ipairs(status.conditions) do
  if condition.type == "Ready" then
    local why = condition.reason or ""
    if condition.message ~= nil and condition.message ~= "" then
      why = why .. ": " .. condition.message
    end
    if condition.status == "True" then
      hs.status = "Healthy"
    elseif condition.status == "False" then
      hs.status = "Degraded"
    else
      hs.status = "Progressing"
    end
    hs.message = why
    return hs
  end
end
hs.status = "Progressing"
hs.message = "Waiting for the first sync"
return hs
