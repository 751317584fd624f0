/** Every scenario of the lane, in the order a run takes them (one file each under scenarios/). */
import type { AnyScenario } from './scenario.ts';
import { brokerKill } from './scenarios/broker-kill.ts';
import { connectorKill } from './scenarios/connector-kill.ts';
import { ingressFuzz } from './scenarios/ingress-fuzz.ts';
import { mailjetDestination } from './scenarios/mailjet-destination.ts';
import { networkPartition } from './scenarios/network-partition.ts';
import { poisonRecords } from './scenarios/poison-records.ts';
import { rebalance } from './scenarios/rebalance.ts';
import { registryDown } from './scenarios/registry-down.ts';
import { segmentFaults } from './scenarios/segment-faults.ts';
import { sigtermAll } from './scenarios/sigterm-all.ts';

export const scenarios: AnyScenario[] = [
  connectorKill,
  rebalance,
  sigtermAll,
  segmentFaults,
  poisonRecords,
  brokerKill,
  registryDown,
  mailjetDestination,
  networkPartition,
  ingressFuzz,
];

export const scenarioNames = scenarios.map((s) => s.name);
