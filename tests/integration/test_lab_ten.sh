# Ten campaigns in one lab service (labloop lab) on the simulated lab, with
# weights 1 to 4, sharing the same devices: all complete, and while all ten
# had work each got its weighted share of the lab's busiest device (the
# dispenser, which every experiment needs first) within 10 %
# (share_check.py). `campaigns` lists all ten, after a restart of the lab
# too, from its hub.
source "$(dirname "$0")/lib.sh"
PORT=$(free_port)
SPEED=${SPEED:-1500}
cat >"$T/lab.yaml" <<YAML
lab: {name: it-lab, endpoint: "tcp://127.0.0.1:$PORT", speed: $SPEED, samples: "$T/samples", seed: 3}
model: {kind: nanocrystal_pl, noise: 0.02}
devices:
  - {name: ot2, driver: sim.dispenser, capabilities: [liquid_handler], duration: 60s}
  - {name: hotplate, driver: sim.heater, capabilities: [hotplate], capacity: 16, duration: "\${time}"}
  - {name: pl-1, driver: sim.spectrometer, capabilities: [pl_spectrometer], capacity: 4, duration: 20s}
YAML
write_service "$T" "$PORT"
DB="$T/lab.db"
EP="tcp://127.0.0.1:$((PORT + 1))"
# name:weight; each campaign's budget follows its weight, so that all ten
# run out of new experiments at about the same time.
CAMPS="c1:1 c2:1 c3:1 c4:2 c5:2 c6:2 c7:3 c8:3 c9:4 c10:4"
for cw in $CAMPS; do
  n=${cw%%:*}; w=${cw##*:}
  write_named_campaign "$T" "$n" "${n#c}" $((w * 22 + 6)) 6
  # time budgets short: heat in 5..60 s of the model's time
  sed -i 's/high: 600, unit: s, scale: log/high: 60, unit: s, scale: log/' "$T/$n.yaml"
done

"$LABLOOP" lab "$T/service.yaml" >"$T/lab.log" 2>&1 & LAB=$!; PIDS+=($LAB)
wait_until 20 "$LABLOOP" campaigns --endpoint "$EP" || fail "the lab does not answer"
# All ten are in before any device is there: they start level.
for cw in $CAMPS; do
  "$LABLOOP" submit "$T/${cw%%:*}.yaml" --endpoint "$EP" --weight "${cw##*:}" >"$T/submit.out" 2>&1 \
    || fail "submit ${cw%%:*}: $(cat "$T/submit.out")"
done
[ "$("$LABLOOP" campaigns --endpoint "$EP" | grep -Ec '^c[0-9]+ +running')" = 10 ] \
  || fail "campaigns does not list ten running: $("$LABLOOP" campaigns --endpoint "$EP")"
pass "ten campaigns submitted with weights 1 to 4"

"$LABLOOP" sim "$T/lab.yaml" >"$T/sim.log" 2>&1 & SIM=$!; PIDS+=($SIM)
wait_until 170 q_is "select count(*) from campaigns where status = 'completed'" 10 \
  || fail "not all ten completed: $(q "select name || ':' || status from campaigns")"
for cw in $CAMPS; do
  n=${cw%%:*}; w=${cw##*:}
  [ "$(q "select count(*) from experiments e join campaigns c on c.id = e.campaign where c.name='$n' and e.status in ('measured','failed')")" = $((w * 22 + 6)) ] \
    || fail "campaign $n does not have all its experiments finished"
done
[ "$(q "select count(*) from (select attempt_id from steps group by attempt_id having count(*) > 1)")" = 0 ] \
  || fail "an attempt is in the hub twice"
pass "all ten completed, every experiment finished"

weights=$(for cw in $CAMPS; do printf '%s ' "$cw"; done)
# shellcheck disable=SC2086
python3 "$(dirname "$0")/share_check.py" "$DB" dispense $weights --min-steps 200 >"$T/share.out" 2>&1 \
  || fail "weighted share: $(cat "$T/share.out")"
cat "$T/share.out"
pass "each campaign within 10 % of its weighted share of the dispenser while all ten ran"

# A restarted lab has nothing to resume, and still lists the ten, ended.
kill -TERM "$LAB"; wait "$LAB" || fail "the lab exited $? on SIGTERM"
"$LABLOOP" lab "$T/service.yaml" >>"$T/lab.log" 2>&1 & LAB=$!; PIDS+=($LAB)
wait_until 20 "$LABLOOP" campaigns --endpoint "$EP" || fail "the restarted lab does not answer"
"$LABLOOP" campaigns --endpoint "$EP" >"$T/campaigns.out"
[ "$(grep -Ec '^c[0-9]+ +completed .*ended 20' "$T/campaigns.out")" = 10 ] \
  || fail "the restarted lab does not list the ten with their end: $(cat "$T/campaigns.out")"
pass "after a restart campaigns lists the ten from the hub, with their end"
