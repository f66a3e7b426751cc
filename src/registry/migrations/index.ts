// Every registry migration, oldest first.
import { InitialSchema1700000000001 } from './1700000000001-InitialSchema';
import { NodeListIndex1700000000004 } from './1700000000004-NodeListIndex';
import { HostSamples1700000000010 } from './1700000000010-HostSamples';

export const MIGRATIONS = [InitialSchema1700000000001, NodeListIndex1700000000004, HostSamples1700000000010];
