// The provisioner: validation, key reservation and address allocation for nodes entering the cluster.
export {
  DEFAULT_IP_POOL,
  Provisioner,
  type ContainerDefinitionInput,
  type ProvisionContainerInput,
  type ProvisionEnvironmentInput,
  type ProvisionHypervisorInput,
  type ProvisionerOptions,
} from './provisioner';
export {
  allocateAddress,
  hostAddresses,
  ipToNumber,
  isIpv4,
  macForIp,
  numberToIp,
  parsePool,
  type AddressPool,
  type NetworkAddress,
} from './addresses';
export { isProvisionedType, requestProblems } from './validation';
