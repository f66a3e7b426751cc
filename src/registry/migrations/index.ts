// Every registry migration, oldest first.
import { InitialSchema1700000000001 } from './1700000000001-InitialSchema';

export const MIGRATIONS = [InitialSchema1700000000001];
