/** Every scenario of the lane, in the order a run takes them (one file each under scenarios/). */
import type { Scenario } from './scenario.ts';
import { connectorKill } from './scenarios/connector-kill.ts';
import { ingressFuzz } from './scenarios/ingress-fuzz.ts';
import { poisonRecords } from './scenarios/poison-records.ts';
import { segmentFaults } from './scenarios/segment-faults.ts';
import { sigtermAll } from './scenarios/sigterm-all.ts';

export const scenarios: Scenario[] = [connectorKill, sigtermAll, segmentFaults, poisonRecords, ingressFuzz];

export const scenarioNames = scenarios.map((s) => s.name);
